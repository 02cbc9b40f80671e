"""The Jenkinsfile's ``gantry`` commands, as the tests read them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from .paths import PROJECT_ROOT

JENKINSFILE = PROJECT_ROOT / "Jenkinsfile"
# What Jenkins puts in the variables the Jenkinsfile uses (typed values where options check them).
VALUES = {"IMAGE_DIGEST": "sha256:" + "ab" * 32, "PR_NUMBER": "7", "GIT_SHA": "0123456789abcdef" * 2 + "01234567",
          "TARGET_ENV": "dev", "SERVICE": "storefront", "TAG": "0123456789ab", "REPO": "flashshop/storefront"}


def gantry_commands() -> list[str]:
    """Every ``gantry …`` command line in the Jenkinsfile, in file order (comments left out)."""
    lines = [ln for ln in JENKINSFILE.read_text().splitlines() if not ln.lstrip().startswith("//")]
    text = "\n".join(lines)
    # sh '...' / sh "..." / sh '''...''' and script: '...' bodies; line continuations joined
    text = text.replace("\\\n", " ")
    commands = []
    for match in re.finditer(r"\bgantry\s[^'\"\n|&;]*(?:\"[^\"\n]*\"[^'\"\n|&;]*)*", text):
        commands.append(match.group(0).strip())
    return commands


def expand(command: str, values: dict[str, str] | None = None) -> list[str]:
    """The argv (without ``gantry``) with Jenkins' variables substituted."""
    values = {**VALUES, **(values or {})}
    shell = command.replace('\\"', '"').replace("\\$", "$")   # Groovy "…" escapes, as the shell sees them
    expanded = re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: values.get(m.group(1), f"x-{m.group(1).lower()}"), shell)
    expanded = re.sub(r"\$\{currentBuild\.currentResult\}", "SUCCESS", expanded)
    return shlex.split(expanded)[1:]
