"""N-way choices for products: create a task (options come back shuffled), then report the pick.

POST /api/v1/choices                 -> the task: token and options in the order to show
GET  /api/v1/choices/{token}         -> the same, with its status
POST /api/v1/choices/{token}/pick    -> the user's pick (key or position) or none=true
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.idempotency import HEADER, idempotent
from feedback.api.common import SEND_FEEDBACK, THROTTLE_SCOPE, FeedbackThrottle
from feedback.models.choice import MAX_OPTIONS, MIN_OPTIONS
from feedback.selectors.choice import choice_task_blind_payload, choice_task_get_for_product
from feedback.services.choice import choice_pick
from feedback.services.choice_products import choice_task_create_for_product

IDEMPOTENCY = OpenApiParameter(HEADER, str, OpenApiParameter.HEADER, required=False)


class OptionInSerializer(serializers.Serializer):
    output_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    model_version = serializers.CharField(required=False, allow_blank=True, max_length=200)
    text = serializers.CharField(
        required=False, allow_blank=True, max_length=50_000, trim_whitespace=False
    )


class ChoiceInSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(help_text="Choice campaign id.")
    options = OptionInSerializer(many=True, min_length=MIN_OPTIONS, max_length=MAX_OPTIONS)
    prompt = serializers.CharField(required=False, allow_blank=True, max_length=50_000, default="")
    prompt_id = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    channel = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    user = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class ChoiceOptionOutSerializer(serializers.Serializer):
    key = serializers.CharField()
    position = serializers.IntegerField()
    text = serializers.CharField()
    html = serializers.CharField()


class ChoicePromptSerializer(serializers.Serializer):
    system = serializers.CharField(allow_blank=True)
    history = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    instruction = serializers.CharField()
    input = serializers.CharField(allow_blank=True)
    instruction_html = serializers.CharField()
    input_html = serializers.CharField(allow_blank=True)


class ChoiceTaskOutSerializer(serializers.Serializer):
    token = serializers.CharField()
    status = serializers.CharField()
    prompt = ChoicePromptSerializer()
    options = ChoiceOptionOutSerializer(many=True)


class PickInSerializer(serializers.Serializer):
    key = serializers.CharField(required=False, allow_blank=True, max_length=32, default="")
    position = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_OPTIONS, default=None
    )
    none = serializers.BooleanField(required=False, default=False, help_text="None is good.")
    time_to_pick_ms = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, default=None
    )


class PickOutSerializer(serializers.Serializer):
    token = serializers.CharField()
    status = serializers.CharField()
    position = serializers.IntegerField(allow_null=True)
    none = serializers.BooleanField()
    counts_toward_support_rate = serializers.BooleanField()
    recorded_at = serializers.DateTimeField()


class ChoiceCreateView(APIView):
    permission_classes = [SEND_FEEDBACK]
    throttle_classes = [FeedbackThrottle]
    throttle_scope = THROTTLE_SCOPE

    @extend_schema(
        operation_id="choice_create",
        request=ChoiceInSerializer,
        responses={201: ChoiceTaskOutSerializer},
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request) -> Response:
        body = ChoiceInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data

        def write() -> Response:
            task = choice_task_create_for_product(
                created_by=request.user,
                campaign_id=data["campaign"],
                options=data["options"],
                prompt=data["prompt"],
                prompt_id=data["prompt_id"],
                channel=data["channel"],
                product_user_id=data["user"],
            )
            payload = choice_task_blind_payload(task=task)
            return Response(ChoiceTaskOutSerializer(payload).data, status=status.HTTP_201_CREATED)

        return idempotent(request, "feedback-choices", write)


class ChoiceDetailView(APIView):
    permission_classes = [SEND_FEEDBACK]

    @extend_schema(operation_id="choice_get", responses={200: ChoiceTaskOutSerializer})
    def get(self, request: Request, token: str) -> Response:
        task = choice_task_get_for_product(token=token)
        return Response(ChoiceTaskOutSerializer(choice_task_blind_payload(task=task)).data)


class ChoicePickView(APIView):
    permission_classes = [SEND_FEEDBACK]
    throttle_classes = [FeedbackThrottle]
    throttle_scope = THROTTLE_SCOPE

    @extend_schema(
        operation_id="choice_pick",
        request=PickInSerializer,
        responses={201: PickOutSerializer},
        parameters=[IDEMPOTENCY],
    )
    def post(self, request: Request, token: str) -> Response:
        body = PickInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data

        def write() -> Response:
            task = choice_pick(
                task=choice_task_get_for_product(token=token),
                key=data["key"],
                position=data["position"],
                none_usable=data["none"],
                time_to_pick_ms=data["time_to_pick_ms"],
            )
            out = {
                "token": task.token,
                "status": task.status,
                "position": task.picked.position if task.picked else None,
                "none": task.none_usable,
                "counts_toward_support_rate": task.counts_toward_support_rate,
                "recorded_at": task.picked_at,
            }
            return Response(PickOutSerializer(out).data, status=status.HTTP_201_CREATED)

        return idempotent(request, f"feedback-choice-pick:{token}"[:100], write)
