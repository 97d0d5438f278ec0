"""When the client asks the cloud for memory: drift, rate limit, nothing twice while pending."""

import numpy as np

from client.coordinator import MemoryRequestCoordinator, changed_chars, common_prefix_length
from shared.settings import ClientSettings

BASE = "Python lists are mutable sequences. " * 10  # 360 characters


def _unit(*values: float) -> np.ndarray:
    vector = np.zeros(384, np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _coordinator(clock: Clock, **settings: object) -> MemoryRequestCoordinator:
    defaults = {
        "min_request_interval_s": 10,
        "drift_changed_chars": 100,
        "drift_embedding_distance": 0.2,
        "min_request_context_chars": 200,
        "pending_request_timeout_s": 60,
    }
    return MemoryRequestCoordinator(ClientSettings.model_validate(defaults | settings), clock)


def _answered_once(clock: Clock) -> MemoryRequestCoordinator:
    """A coordinator whose first request (BASE) the cloud has answered."""
    coordinator = _coordinator(clock)
    assert coordinator.should_request(BASE, _unit(1))
    coordinator.request_finished(delivered=True)
    return coordinator


def test_changed_chars_counts_what_differs_after_the_common_prefix() -> None:
    assert common_prefix_length("abcdef", "abcxyz") == 3
    assert changed_chars("abc", "abcdef") == 3
    assert changed_chars("abcdef", "abcxy") == 5
    assert changed_chars(BASE, BASE) == 0


def test_the_first_long_enough_context_is_sent() -> None:
    coordinator = _coordinator(Clock())
    assert not coordinator.should_request("too short", _unit(1))
    assert coordinator.should_request(BASE, _unit(1)) and coordinator.pending


def test_nothing_is_sent_while_a_request_for_nearly_the_same_context_is_pending() -> None:
    clock = Clock()
    coordinator = _coordinator(clock)
    assert coordinator.should_request(BASE, _unit(1))
    clock.now += 30
    assert not coordinator.should_request(BASE + "x" * 200, _unit(1, 0.1))  # drifted in text, not in meaning
    coordinator.request_finished(delivered=True)
    assert coordinator.should_request(BASE + "x" * 200, _unit(1, 0.1))


def test_requests_are_rate_limited_even_when_the_context_drifted() -> None:
    clock = Clock()
    coordinator = _answered_once(clock)
    clock.now += 5
    assert not coordinator.should_request("A new topic entirely. " * 20, _unit(0, 1))
    clock.now += 6
    assert coordinator.should_request("A new topic entirely. " * 20, _unit(0, 1))


def test_a_small_edit_on_the_same_topic_is_not_drift() -> None:
    clock = Clock()
    coordinator = _answered_once(clock)
    clock.now += 60
    assert not coordinator.should_request(BASE + " More on lists.", _unit(1, 0.05))
    assert coordinator.should_request(BASE + " More on lists." * 10, _unit(1, 0.05))  # 150 characters changed
    coordinator.request_finished(delivered=True)
    clock.now += 60
    assert coordinator.should_request(BASE + " More on lists." * 10, _unit(0.3, 1))  # same text length, new meaning


def test_a_pending_request_that_never_finishes_expires() -> None:
    clock = Clock()
    coordinator = _coordinator(clock)
    assert coordinator.should_request(BASE, _unit(1))
    clock.now += 61
    assert not coordinator.pending


def test_drift_is_measured_from_the_last_context_the_cloud_answered() -> None:
    clock = Clock()
    coordinator = _answered_once(clock)
    clock.now += 60
    topic = "A new topic entirely. " * 20
    assert coordinator.should_request(topic, _unit(0, 1))
    coordinator.request_finished(delivered=False)  # the cloud was down
    clock.now += 5
    assert not coordinator.should_request(topic + "more", _unit(0, 1))  # the rate limit counts attempts
    clock.now += 6
    assert coordinator.should_request(topic + "more", _unit(0, 1))  # still drifted from what was delivered
