"""Memory requests through Redis, to any number of worker processes on any number of machines (Celery).

The API stores a request in the shared memory log, supersedes the tenant's request
still waiting (the latest context wins), and sends a task naming it. A worker
(``hybridrag cloud worker --queue redis://…``) claims the request in the log and
runs the same processor as the in-process queue. Delivery is at least once: a task
is acknowledged only after it ran (``task_acks_late``), a worker takes one task at a
time (``worker_prefetch_multiplier=1``), and the task of a worker that died is
delivered again after ``cloud.queue_visibility_timeout_s``. A second delivery finds
the request finished and does nothing; a note is never duplicated (content ids).
"""

import logging
import os
import socket

from celery import Celery

from cloud.memory.memory_log import MemoryLog
from cloud.memory.processor import MemoryRequestProcessor
from cloud.memory.request_queue import QueueFull
from shared.protocol import MemoryRequest, RequestStatus
from shared.settings import CloudSettings

logger = logging.getLogger(__name__)
TASK_NAME = "hybridrag.memory_request"
QUEUE_NAME = "hybridrag-memory"


def celery_app(settings: CloudSettings) -> Celery:
    app = Celery("hybridrag", broker=settings.queue, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=QUEUE_NAME,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.queue_visibility_timeout_s,
            # kombu sweeps for abandoned jobs every interval x throttle s (10 x 10 by default): a job a
            # killed worker held would wait 100 s past its visibility timeout. Sweep at least as often.
            "unacked_restore_interval": max(1, min(10, settings.queue_visibility_timeout_s)),
            "unacked_restore_throttle": 1,
        },
        worker_hijack_root_logger=False,
    )
    return app


class CeleryDispatcher:
    """The API's side: store, coalesce per tenant, send."""

    def __init__(self, log: MemoryLog, settings: CloudSettings) -> None:
        self.log = log
        self.settings = settings
        self._app = celery_app(settings)

    def submit(self, tenant: str, request: MemoryRequest) -> RequestStatus:
        if self.log.queued_tenants() >= self.settings.queue_max_tenants:
            raise QueueFull(
                f"The memory queue is full ({self.settings.queue_max_tenants} tenants waiting). Retry later."
            )
        status = self.log.create_request(tenant, request)
        self.log.supersede_queued(tenant, by=status.request_id)
        self._app.send_task(TASK_NAME, args=(tenant, status.request_id), queue=QUEUE_NAME)
        return status

    def resend_queued(self) -> int:
        """Send again the requests still queued in the log: a message lost with a crashed API process.

        A running request's message is still in Redis, unacknowledged: Redis gives it to
        another worker if its worker died. A duplicate message finds its request done.
        """
        queued = self.log.unfinished_requests(running=False)
        for tenant, request_id in queued:
            self._app.send_task(TASK_NAME, args=(tenant, request_id), queue=QUEUE_NAME)
        return len(queued)

    def depth(self) -> int:
        return self.log.queued_tenants()

    def start(self) -> None:
        self.resend_queued()

    def stop(self) -> None:
        self._app.close()


def run_worker(processor: MemoryRequestProcessor, settings: CloudSettings) -> None:
    """Consume memory requests until stopped: one at a time, in this process (the writer's model is loaded once)."""
    app = celery_app(settings)

    @app.task(name=TASK_NAME, bind=True, max_retries=None)
    def memory_request(task, tenant: str, request_id: str) -> None:
        attempt = processor.attempt(tenant, request_id)
        if attempt.retry_in_s is not None:
            raise task.retry(countdown=attempt.retry_in_s)

    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--concurrency=1",
            f"--queues={QUEUE_NAME}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            f"--hostname=hybridrag-{os.getpid()}@{socket.gethostname()}",
        ]
    )
