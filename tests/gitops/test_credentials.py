"""HTTPS credentials for the GitOps remote come from GIT_USER / GIT_TOKEN through a git
credential helper: real ``git credential fill`` gets them, and they never appear in argv."""

from __future__ import annotations

import subprocess

import pytest

from gitops.git import _env


def fill(env: dict[str, str]) -> str:
    return subprocess.run(["git", "credential", "fill"], input="protocol=https\nhost=github.com\n\n",
                          env=env, capture_output=True, text=True, timeout=30).stdout


def test_token_from_environment_reaches_git(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no user credential helpers
    monkeypatch.setenv("GIT_USER", "jenkins-bot")
    monkeypatch.setenv("GIT_TOKEN", "ghp_s3cret")
    env = _env()
    answer = fill(env)
    assert "username=jenkins-bot" in answer and "password=ghp_s3cret" in answer
    assert all("ghp_s3cret" not in v for k, v in env.items() if k.startswith("GIT_CONFIG_"))


def test_no_token_no_helper(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GIT_TOKEN", raising=False)
    env = _env()
    assert not any(k.startswith("GIT_CONFIG_KEY_") for k in env)
    proc = subprocess.run(["git", "credential", "fill"], input="protocol=https\nhost=github.com\n\n",
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0  # GIT_TERMINAL_PROMPT=0: git refuses instead of prompting
