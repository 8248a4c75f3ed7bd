"""The command line's XLA:CPU flag: added once, never over the user's own choice."""

import pytest

from funcnet import cpu_flags
from funcnet.cpu_flags import FLAG, prefer_xla_convolutions


@pytest.fixture(autouse=True)
def measured_jaxlib(monkeypatch):
    monkeypatch.setattr(cpu_flags.metadata, "version", lambda name: "0.10.2")


def test_the_flag_is_added_to_the_users_flags():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    assert prefer_xla_convolutions(env)
    assert env["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=4 {FLAG}"
    assert not prefer_xla_convolutions(env)  # already there: added once


def test_a_users_own_ynn_setting_is_kept():
    env = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type="}
    assert not prefer_xla_convolutions(env)
    assert env["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type="


def test_an_empty_environment_gets_the_flag():
    env: dict[str, str] = {}
    assert prefer_xla_convolutions(env) and env["XLA_FLAGS"] == FLAG


def test_an_unmeasured_jaxlib_gets_no_flag(monkeypatch):
    # an XLA flag the installed jaxlib does not know would abort the process
    monkeypatch.setattr(cpu_flags.metadata, "version", lambda name: "0.11.0")
    env: dict[str, str] = {}
    assert not prefer_xla_convolutions(env) and env == {}
