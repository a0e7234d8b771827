"""Load a pipeline config for a host rather than for this process.

``load_config`` checks a pinned core against this process's affinity, which
on a host booted with ``isolcpus=`` leaves the isolated cores out: exactly
the ones a pipeline pins. Units and the doctor judge the host, so they check
against the cores it has.
"""

from __future__ import annotations

import os
from collections.abc import Set
from pathlib import Path

from hftpipe.runtime.config import PipelineConfig, parse_config, read_toml


def load_for_cores(path: str | os.PathLike[str], cores: Set[int], name: str | None = None) -> PipelineConfig:
    """``path`` parsed with ``cores`` as the cores a stage may be pinned to (a ConfigError otherwise)."""
    config = parse_config(read_toml(path), source=str(Path(path).resolve()), allowed_cpus=set(cores))
    return config.with_name(name) if name else config
