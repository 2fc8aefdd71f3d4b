"""Labeling API under /api/v1/labeling/.

Managers (``evalhub.manage_data``: pm, admin) create and run tasks; labelers (the task's
audience) get their next item and answer it (``Idempotency-Key`` makes a retry safe);
reviewers cross-review; experts (``evalhub.review_labels``) spot-check sampled batches.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalhub.api.idempotency import idempotent
from evalhub.api.permissions import HasPerm
from evalhub.models import Label
from evalhub.services.errors import NotFound
from labeling.display import item_view, question_view, value_for_display, value_from_display
from labeling.models import Annotation, Audience, ItemKind, QuestionKind, ReviewKind, Verdict
from labeling.selectors import (
    labeler_accuracy,
    review_queue,
    spot_check_batch_get,
    spot_check_entries,
    task_alpha,
    task_get,
    task_item_outcomes,
    task_progress,
    tasks_for_labeler,
    tasks_list,
)
from labeling.services.access import LABEL, MANAGE, REVIEW, can_cross_review, can_label
from labeling.services.annotations import annotation_submit
from labeling.services.effects import labeling_task_apply
from labeling.services.reviews import review_record, spot_check_batch_create
from labeling.services.serving import item_get_for_labeler, item_next, item_skip
from labeling.services.tasks import (
    labeling_task_close,
    labeling_task_create,
    labeling_task_create_next_layer,
    labeling_task_open,
    task_items_add,
)

MANAGER = HasPerm.of(MANAGE)
REVIEWER = HasPerm.of(REVIEW)
IDEMPOTENCY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)


class AnyOf:
    """A permission class: the user holds at least one of the permissions."""

    @staticmethod
    def of(*perms: str) -> type:
        classes = [HasPerm.of(p) for p in perms]

        class _AnyOf(HasPerm):
            def has_permission(self, request: Any, view: Any) -> bool:
                return any(c().has_permission(request, view) for c in classes)

        return _AnyOf


LABEL_OR_REVIEW = AnyOf.of(LABEL, REVIEW)
# Staff tasks are also for PMs (who hold manage_data, not label_items); the task's audience
# decides the rest (a task not meant for you is a 404).
LABELER = AnyOf.of(LABEL, MANAGE)


class TaskSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    item_kind = serializers.ChoiceField(ItemKind.values)
    question_kind = serializers.ChoiceField(QuestionKind.values)
    labels = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(), many=True, required=False
    )
    label_root = serializers.PrimaryKeyRelatedField(
        queryset=Label.objects.all(),
        required=False,
        allow_null=True,
        write_only=True,
        help_text="Also allow every active label under this one.",
    )
    multi_select = serializers.BooleanField(default=False)
    rubric = serializers.CharField(required=False, allow_blank=True, default="", max_length=20000)
    audience = serializers.ChoiceField(Audience.values, default=Audience.USER)
    k = serializers.IntegerField(min_value=1, max_value=50, default=3)
    batch_size = serializers.IntegerField(min_value=1, max_value=500, default=10)
    min_agreement = serializers.FloatField(min_value=0.01, max_value=1, default=0.6)
    gold_share = serializers.FloatField(min_value=0, max_value=1, default=0.0)
    gold_min_accuracy = serializers.FloatField(min_value=0, max_value=1, default=0.8)
    gold_min_answers = serializers.IntegerField(min_value=1, max_value=1000, default=5)
    spot_check_rate = serializers.FloatField(min_value=0.001, max_value=1, default=0.05)
    seed = serializers.IntegerField(min_value=0, max_value=2**62, default=0)
    items = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        write_only=True,
        max_length=10000,
        help_text='[{"prompt": 1}, {"output": 2, "output_b": 3}, {"pair": 4, "gold_answer": '
        '{"preference": "a"}}]',
    )
    layer = serializers.IntegerField(read_only=True)
    parent = serializers.IntegerField(source="parent_id", read_only=True, allow_null=True)
    status = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class ItemsSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.DictField(), max_length=10000)


class NextLayerSerializer(serializers.Serializer):
    audience = serializers.ChoiceField(Audience.values, required=False)
    k = serializers.IntegerField(min_value=1, max_value=50, required=False)


class AnnotationInSerializer(serializers.Serializer):
    item = serializers.IntegerField(min_value=1, max_value=2**62)
    value = serializers.DictField(
        help_text='{"labels": [3]}, {"score": 4}, {"text": "..."} or {"preference": '
        '"left" | "right" | "tie"} (sides as shown)'
    )
    seconds = serializers.FloatField(min_value=0, max_value=86399, required=False)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class AnnotationOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.IntegerField(source="item_id")
    status = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReviewInSerializer(serializers.Serializer):
    annotation = serializers.IntegerField(min_value=1, max_value=2**62)
    kind = serializers.ChoiceField(ReviewKind.values)
    verdict = serializers.ChoiceField(Verdict.values)
    corrected_value = serializers.DictField(required=False, allow_null=True)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    batch = serializers.IntegerField(min_value=1, max_value=2**62, required=False)


class SpotCheckInSerializer(serializers.Serializer):
    rate = serializers.FloatField(min_value=0.001, max_value=1, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=2**62, required=False)


def _task_out(task: Any) -> dict[str, Any]:
    data = dict(TaskSerializer(task).data)
    data["labels"] = list(task.labels.values_list("pk", flat=True))
    return data


class MyTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    question_kind = serializers.CharField()
    layer = serializers.IntegerField()
    items = serializers.IntegerField()
    my_labels = serializers.IntegerField()
    labels_wanted = serializers.IntegerField()


class QueueEntrySerializer(serializers.Serializer):
    annotation = serializers.IntegerField()
    task = serializers.IntegerField()
    item = serializers.IntegerField()
    value = serializers.DictField()
    question = serializers.DictField()
    prompt = serializers.DictField()
    answers = serializers.ListField(child=serializers.DictField())


class TaskListCreate(APIView):
    permission_classes = [MANAGER]

    @extend_schema(responses=TaskSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response([_task_out(t) for t in tasks_list()[:200]])

    @extend_schema(request=TaskSerializer, responses={201: TaskSerializer})
    def post(self, request: Request) -> Response:
        body = TaskSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        task = labeling_task_create(**body.validated_data, created_by=request.user)
        return Response(_task_out(task), status=status.HTTP_201_CREATED)


class TaskDetail(APIView):
    permission_classes = [MANAGER]

    @extend_schema(responses={200: OpenApiResponse(description="The task with its progress, "
                   "agreement (Krippendorff's alpha), disagreements and labelers.")})  # fmt: skip
    def get(self, request: Request, pk: int) -> Response:
        task = task_get(pk)
        outcomes = task_item_outcomes(task=task)
        return Response({
            **_task_out(task),
            "progress": task_progress(task=task),
            "alpha": task_alpha(task=task, outcomes=outcomes),
            "disagreements": [o.item.pk for o in outcomes if o.disagreed],
            "consensus": sum(o.consensus is not None for o in outcomes),
            "labelers": [vars(row) for row in labeler_accuracy(task=task)],
        })  # fmt: skip


class TaskItemsAdd(APIView):
    permission_classes = [MANAGER]

    @extend_schema(request=ItemsSerializer, responses={201: dict})
    def post(self, request: Request, pk: int) -> Response:
        body = ItemsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        added = task_items_add(task=task_get(pk), items=body.validated_data["items"])
        return Response({"added": added}, status=status.HTTP_201_CREATED)


class TaskAction(APIView):
    """POST open | close | apply | next-layer."""

    permission_classes = [MANAGER]
    action = ""

    @extend_schema(request=NextLayerSerializer, responses={200: dict})
    def post(self, request: Request, pk: int) -> Response:
        task = task_get(pk)
        if self.action == "open":
            return Response(_task_out(labeling_task_open(task=task)))
        if self.action == "close":
            return Response(_task_out(labeling_task_close(task=task)))
        if self.action == "apply":
            return Response(labeling_task_apply(task=task))
        body = NextLayerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        child = labeling_task_create_next_layer(
            task=task, created_by=request.user, **body.validated_data
        )
        return Response(_task_out(child), status=status.HTTP_201_CREATED)


class MyTasks(APIView):
    permission_classes = [LABELER]

    @extend_schema(responses=MyTaskSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(
            [
                {
                    "id": t.pk,
                    "name": t.name,
                    "question_kind": t.question_kind,
                    "layer": t.layer,
                    "items": t.n_items,
                    "my_labels": t.mine,
                    "labels_wanted": t.wanted,
                }
                for t in tasks_for_labeler(request.user)
            ]
        )


class NextItem(APIView):
    permission_classes = [LABELER]

    @extend_schema(
        responses={
            200: dict,
            204: OpenApiResponse(description="Nothing left for you."),
            409: OpenApiResponse(description="The task is not open, or your labels are on hold."),
        },
        description="The next item (a batch is claimed when you hold none): the question, the "
        "prompt and answers as sanitized markdown. No model names or output ids.",
    )
    def get(self, request: Request, pk: int) -> Response:
        task = task_get(pk)
        if not can_label(request.user, task):
            raise NotFound("No such labeling task.")
        item = item_next(task=task, labeler=request.user)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response({"question": question_view(task), **item_view(item, task)})


class ItemSkip(APIView):
    permission_classes = [LABELER]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, pk: int) -> Response:
        item = item_get_for_labeler(item_id=pk, labeler=request.user)
        item_skip(item=item, labeler=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AnnotationCreate(APIView):
    permission_classes = [LABELER]

    @extend_schema(request=AnnotationInSerializer, responses={201: AnnotationOutSerializer},
                   parameters=[IDEMPOTENCY])  # fmt: skip
    def post(self, request: Request) -> Response:
        body = AnnotationInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data

        def write() -> Response:
            item = item_get_for_labeler(item_id=data["item"], labeler=request.user)
            annotation = annotation_submit(
                item=item,
                labeler=request.user,
                value=value_from_display(item, item.task, data["value"]),
                seconds=data.get("seconds"),
                comment=data["comment"],
                idempotency_key=request.headers.get("Idempotency-Key", ""),
            )
            return Response(AnnotationOutSerializer(annotation).data, status.HTTP_201_CREATED)

        return idempotent(request, "labeling-annotations", write)


class ReviewQueue(APIView):
    permission_classes = [LABEL_OR_REVIEW]

    @extend_schema(responses=QueueEntrySerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(
            [
                {
                    "annotation": a.pk,
                    "task": a.item.task_id,
                    "value": value_for_display(a.item, a.item.task, a.value),
                    "question": question_view(a.item.task),
                    **item_view(a.item, a.item.task),
                }
                for a in review_queue(reviewer=request.user)
            ]
        )


class ReviewCreate(APIView):
    permission_classes = [LABEL_OR_REVIEW]

    @extend_schema(request=ReviewInSerializer, responses={201: dict}, parameters=[IDEMPOTENCY])
    def post(self, request: Request) -> Response:
        body = ReviewInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data

        def write() -> Response:
            annotation = (
                Annotation.objects.select_related("item__task")
                .filter(pk=data["annotation"])
                .first()
            )
            if annotation is None or not can_cross_review(request.user, annotation.item.task):
                raise NotFound("No such label for you.")
            batch = spot_check_batch_get(data["batch"]) if data.get("batch") else None
            review = review_record(
                annotation=annotation,
                reviewer=request.user,
                kind=data["kind"],
                verdict=data["verdict"],
                corrected_value=data.get("corrected_value"),
                comment=data["comment"],
                batch=batch,
            )
            return Response({"id": review.pk, "annotation": annotation.pk,
                             "status": annotation.status}, status.HTTP_201_CREATED)  # fmt: skip

        return idempotent(request, "labeling-reviews", write)


class SpotCheckCreate(APIView):
    permission_classes = [AnyOf.of(MANAGE, REVIEW)]

    @extend_schema(request=SpotCheckInSerializer, responses={201: dict})
    def post(self, request: Request, pk: int) -> Response:
        body = SpotCheckInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        batch = spot_check_batch_create(
            task=task_get(pk), created_by=request.user, **body.validated_data
        )
        return Response({"id": batch.pk, "sampled": batch.entries.count(),
                         "population": batch.population, "seed": batch.seed},
                        status.HTTP_201_CREATED)  # fmt: skip


class SpotCheckDetail(APIView):
    permission_classes = [REVIEWER]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, pk: int) -> Response:
        batch = spot_check_batch_get(pk)
        return Response({
            "id": batch.pk, "task": batch.task_id, "rate": batch.rate, "seed": batch.seed,
            "population": batch.population,
            "entries": [
                {"position": row["entry"].position, "annotation": row["annotation"].pk,
                 "value": row["annotation"].value,
                 "verdict": row["review"].verdict if row["review"] else None}
                for row in spot_check_entries(batch=batch)
            ],
        })  # fmt: skip
