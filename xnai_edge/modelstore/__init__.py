"""The model store: installed model files addressed by set and role, never by a hard-coded path.

Everything outside this package uses only what is exported here::

    store = ModelStore(ctx.models_dir)
    gguf = store.path("llm", "model.gguf")          # ModelError with the fix command if missing
    for s in store.status("tiny"): print(s.role, s.state)
"""

from xnai_edge.modelstore.installer import InstallReport
from xnai_edge.modelstore.manifest import (
    ROLES,
    SETS,
    FileSpec,
    Manifest,
    ModelSpec,
    load_manifest,
    manifest_path,
)
from xnai_edge.modelstore.store import FileStatus, ModelStatus, ModelStore, fix_command

__all__ = [
    "ROLES",
    "SETS",
    "FileSpec",
    "FileStatus",
    "InstallReport",
    "Manifest",
    "ModelSpec",
    "ModelStatus",
    "ModelStore",
    "fix_command",
    "load_manifest",
    "manifest_path",
]
