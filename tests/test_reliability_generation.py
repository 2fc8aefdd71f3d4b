"""Faults at the generation endpoint (a real OpenAI-compatible server on 127.0.0.1): down before
a job starts, stopped in the middle of a job, too slow for the timeout, dropping connections.

Each fault gives a clear error that names the endpoint and the model; nothing half-written is
stored (every output stored is exactly the server's whole answer); nothing is stored twice; and
once the fault is over, generating again (the job's Retry) finishes the job asking only for
what is missing. The server comes back on the same address, as a restarted vLLM would.
"""

from __future__ import annotations

import socket
from collections import Counter
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from evalhub.generation.base import build_messages
from evalhub.generation.testing_server import LoopbackOpenAIServer, _Handler
from evalhub.generation_tasks import run_generation_job
from evalhub.models import Campaign, Job, Output
from evalhub.services.generation import backends_close_all, campaign_generate_enqueue
from evalhub.services.generation import run as generation_run
from evalhub.services.jobs import job_retry
from tests.test_generation_service import make_campaign

# Real transactions: a job that runs longer than its heartbeat interval (10 s) has its heartbeat
# thread write the job row from another connection, which a test-wide transaction would block.
pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
MODELS = ["tiny-base", "tiny-warm"]


class SameAddressServer(LoopbackOpenAIServer):
    """The loopback server on a port of our choosing, so it can come back where it was."""

    def __init__(self, port: int, **kwargs: Any) -> None:
        super().__init__(models=MODELS, **kwargs)
        self.fixed_port = port

    def start(self) -> SameAddressServer:
        handler = type("Handler", (_Handler,), {"owner": self})
        httpd = ThreadingHTTPServer(
            ("127.0.0.1", self.fixed_port), handler, bind_and_activate=False
        )
        httpd.daemon_threads = True
        httpd.allow_reuse_address = True
        httpd.server_bind()
        httpd.server_activate()
        self._httpd = httpd
        import threading

        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def _generation_settings(settings):
    settings.EVALHUB_GENERATION_CONCURRENCY = 16
    settings.EVALHUB_GENERATION_TIMEOUT = 5
    yield
    backends_close_all()


@pytest.fixture
def server():
    running = SameAddressServer(free_port()).start()
    yield running
    running.stop()


def outputs_of(campaign: Campaign) -> list[Output]:
    return list(
        Output.objects.filter(prompt__campaigns=campaign).select_related("prompt", "model_version")
    )


def assert_whole_and_once(campaign: Campaign, reference: LoopbackOpenAIServer) -> int:
    """Every stored output is once per (prompt, model, sample) and exactly the server's answer."""
    outputs = outputs_of(campaign)
    keys = Counter((o.prompt_id, o.model_version_id, o.sample_index) for o in outputs)
    assert not [key for key, n in keys.items() if n > 1], keys
    for output in outputs:
        prompt = output.prompt
        messages = build_messages(
            prompt.system, prompt.history or (), prompt.instruction, prompt.input
        )
        body = {
            "model": output.model_version.served_name,
            "messages": list(messages),
            **output.params,
        }
        status, answer = reference.completion_body(body)
        assert status == 200 and output.text == answer["choices"][0]["message"]["content"]
    return len(outputs)


def run_job(job: Job, **kwargs: Any) -> Job:
    run_generation_job(job.pk, **kwargs)
    job.refresh_from_db()
    return job


def test_endpoint_down_then_back(server):
    campaign = make_campaign(server, n_prompts=4, name="down")
    endpoint = server.base_url
    server.stop()  # vLLM is down before the job starts

    job = run_job(campaign_generate_enqueue(campaign=campaign))
    assert job.state == "failed"
    assert endpoint in job.error and "connection failed" in job.error
    campaign.refresh_from_db()
    assert campaign.status == "draft" and outputs_of(campaign) == []

    server.start()  # back on the same address
    job = run_job(job_retry(job=job))
    assert job.state == "succeeded", job.error
    assert server.chat_requests == 8 and assert_whole_and_once(campaign, server) == 8
    campaign.refresh_from_db()
    assert campaign.status == "open" and campaign.comparisons.count() == 4


def test_endpoint_stopped_in_the_middle_of_a_job(server, monkeypatch, settings):
    # Every request in one wave, so the client's retries with backoff (about 3.5 s per request
    # against a dead endpoint) are waited for once per pass, not once per wave.
    settings.EVALHUB_GENERATION_CONCURRENCY = 64
    monkeypatch.setattr(generation_run, "FLUSH_ROWS", 4)
    server.latency_s = 0.05
    campaign = make_campaign(server, n_prompts=20, name="mid")
    endpoint = server.base_url
    job = campaign_generate_enqueue(campaign=campaign)
    stopped: list[int] = []

    def stop_half_way(done: int, total: int, message: str) -> None:
        if done >= 8 and not stopped:
            stopped.append(done)
            server.stop()  # the endpoint dies with requests in flight

    job = run_job(job, on_progress=stop_half_way)
    assert stopped and job.state == "failed"
    assert "outputs still missing" in job.error and endpoint in job.error
    assert "model 'tiny-" in job.error and "connection failed" in job.error
    kept = assert_whole_and_once(campaign, server)
    assert 8 <= kept < 40 and job.result["generated"] == kept
    campaign.refresh_from_db()
    assert campaign.status == "draft"

    server.latency_s = 0.0
    server.reset_stats()
    server.start()
    job = run_job(job_retry(job=job))
    assert job.state == "succeeded", job.error
    assert job.result["present_before"] == kept and job.result["generated"] == 40 - kept
    assert server.chat_requests == 40 - kept  # only what was missing was asked for
    assert assert_whole_and_once(campaign, server) == 40


def test_slow_endpoint_times_out_clearly_then_finishes(server, settings):
    settings.EVALHUB_GENERATION_TIMEOUT = 0.3
    server.latency_s = 1.0  # slower than the timeout: every attempt times out
    campaign = make_campaign(server, n_prompts=2, name="slow")
    job = run_job(campaign_generate_enqueue(campaign=campaign))
    assert job.state == "failed"
    assert "timed out after 0.3 s" in job.error and server.base_url in job.error
    assert "model 'tiny-" in job.error
    assert outputs_of(campaign) == []  # a timed-out answer is never half-stored

    server.latency_s = 0.0  # the endpoint is fast again
    job = run_job(job_retry(job=job))
    assert job.state == "succeeded", job.error
    assert assert_whole_and_once(campaign, server) == 4


@pytest.mark.parametrize("failure", ["drop", 503, "malformed"])
def test_flaky_endpoint_is_retried_without_duplicates(server, failure):
    """Dropped connections and 503s are retried by the client; a malformed answer fails its
    request and the job's retry pass asks again. Either way each output is stored once."""
    campaign = make_campaign(server, n_prompts=5, name=f"flaky-{failure}")
    server.configure_failures(fail_first=4, failure=failure)
    job = run_job(campaign_generate_enqueue(campaign=campaign))
    assert job.state == "succeeded", job.error
    assert assert_whole_and_once(campaign, server) == 10
    assert server.chat_requests == 10 + 4  # each failure cost exactly one more request


def test_endpoint_down_error_names_the_model(server):
    campaign = make_campaign(server, n_prompts=1, name="named")
    server.stop()
    job = run_job(campaign_generate_enqueue(campaign=campaign))
    assert job.state == "failed" and "tiny-base" in job.error
