"""Weights and training checkpoints as safetensors + JSON; no pickle anywhere.

Inference model:      NAME.safetensors (weights) + NAME.json (config, vocabulary fingerprint, step).
Training checkpoint:  ckpt/step-XXXXXXXX.safetensors ("model.*" and "optim.*" tensors) + ckpt/last.json
                      and ckpt/best.json (config, fingerprint, step, optimizer scalars, sampler/RNG state).
Every file is written to a temporary name and moved into place with os.replace; the JSON, written last,
names its tensor file with that file's size and SHA-256, so a reader never pairs a JSON with a half-written
or damaged file.

Shards: given a largest file size (max_file_bytes), tensors that do not fit in one file go into
NAME-00001-of-0000N.safetensors, ..., each at most that size, and the JSON lists them under "shards" (each
with its name, size and SHA-256) in place of the one file's "weights", "weights_bytes" and "weights_sha256".
Readers load either form the same way.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from cdgmvae.engine import vocab
from cdgmvae.engine.config import GROWTH_FIELDS, ModelConfig
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.model import CDGMVAE
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

VERSION = 1
MODEL_FORMAT = "cdgmvae-model"
CHECKPOINT_FORMAT = "cdgmvae-checkpoint"
FILE_FIELDS = ("weights", "weights_bytes", "weights_sha256")
SHARD_NAME = re.compile(r"-\d{5}-of-\d{5}$")   # the suffix of a shard's stem


def _file_mode() -> int:
    """The mode a plainly created file gets (0o644 under the usual umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: Path, write) -> None:
    """write(tmp_path) then os.replace onto path (same folder, so the move is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())  # mkstemp makes it 0o600: others could not read a shared model
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: dict) -> None:
    _atomic_write(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_one(path: Path, tensors: dict[str, torch.Tensor]) -> dict:
    _atomic_write(path, lambda tmp: save_file(tensors, tmp))
    return {"weights": path.name, "weights_bytes": path.stat().st_size, "weights_sha256": file_sha256(path)}


def _stored_bytes(name: str, tensor: torch.Tensor) -> int:
    """An upper bound on what a tensor adds to a safetensors file: its data and its header entry
    ("name":{"dtype":"F32","shape":[...],"data_offsets":[a,b]}, offsets of up to 20 digits)."""
    return tensor.numel() * tensor.element_size() + len(json.dumps(name)) + 64 + 21 * tensor.dim()


SAFETENSORS_OVERHEAD = 64   # the 8-byte header length, the braces and the padding to 8 bytes, with room


def _shards(tensors: dict[str, torch.Tensor], max_file_bytes: int) -> list[dict[str, torch.Tensor]]:
    """Tensors in order, packed greedily into groups whose files stay within max_file_bytes."""
    room = max_file_bytes - SAFETENSORS_OVERHEAD
    groups: list[dict[str, torch.Tensor]] = [{}]
    used = 0
    for name, tensor in tensors.items():
        size = _stored_bytes(name, tensor)
        if size > room:
            raise UserError(f"tensor {name} ({size} bytes) does not fit in a file of at most {max_file_bytes} "
                            f"bytes; allow larger files")
        if used + size > room:
            groups.append({})
            used = 0
        groups[-1][name] = tensor
        used += size
    return groups


def check_file_limit(tensors: dict[str, torch.Tensor], max_file_bytes: int | None) -> None:
    """Raise UserError now, not at the first save, when a tensor cannot fit in a file of max_file_bytes."""
    if max_file_bytes is not None:
        _shards(tensors, max_file_bytes)


def write_tensors(path: Path, tensors: dict[str, torch.Tensor], max_file_bytes: int | None = None) -> dict:
    """Atomically write a safetensors file, or its shards when the tensors do not fit in one file of at most
    max_file_bytes (module docstring); returns the JSON fields that identify the file(s)."""
    path = Path(path)
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    groups = [cpu] if max_file_bytes is None else _shards(cpu, max_file_bytes)
    if len(groups) == 1:
        return _write_one(path, cpu)
    n = len(groups)
    shards = [_write_one(path.with_name(f"{path.stem}-{i:05d}-of-{n:05d}{path.suffix}"), group)
              for i, group in enumerate(groups, 1)]
    too_big = [s["weights"] for s in shards if s["weights_bytes"] > max_file_bytes]
    if too_big:  # _stored_bytes is an upper bound, so this means safetensors changed its layout
        raise RuntimeError(f"shards {too_big} exceed {max_file_bytes} bytes; _stored_bytes underestimates")
    return {"shards": shards}


def file_entries(header: dict) -> list[dict]:
    """The tensor files a header names, each {"weights": name, "weights_bytes", "weights_sha256"}."""
    return header["shards"] if "shards" in header else [{k: header[k] for k in FILE_FIELDS}]


def weights_files(json_path: str | Path) -> list[Path]:
    """The paths of the tensor files (one, or the shards) that a model or checkpoint JSON names."""
    return [Path(json_path).parent / entry["weights"] for entry in file_entries(read_header(json_path))]


def _remove_stale(folder: Path, pattern: str, keep: set[str]) -> None:
    for stale in folder.glob(pattern):
        if stale.name not in keep:
            stale.unlink()


def _header(config: ModelConfig, step: int, fmt: str, weights: dict) -> dict:
    return {"format": fmt, "version": VERSION, "config": config.to_dict(), "vocab_fingerprint": vocab.fingerprint(),
            "step": int(step), **weights}


def save_model(model: CDGMVAE, folder: str | Path, step: int, name: str = "model",
               max_file_bytes: int | None = None) -> Path:
    """Weights for inference: folder/NAME.safetensors (or its shards, each at most max_file_bytes) +
    folder/NAME.json. Weights files of an earlier NAME in the folder that the new JSON does not name are
    removed. Returns the JSON path."""
    folder = Path(folder)
    weights = write_tensors(folder / f"{name}.safetensors", model.state_dict(), max_file_bytes)
    json_path = folder / f"{name}.json"
    write_json(json_path, _header(model.cfg, step, MODEL_FORMAT, weights))
    keep = {entry["weights"] for entry in file_entries(weights)}
    for pattern in (f"{name}.safetensors", f"{name}-?????-of-?????.safetensors"):
        _remove_stale(folder, pattern, keep)
    return json_path


# --- reading ------------------------------------------------------------------------------------------
def read_json(json_path: Path, what: str, hint: str) -> object:
    """The parsed JSON of a weights header; UserError naming `what` it is when the file is missing or not
    JSON, followed by `hint` (what to do about it)."""
    try:
        return json.loads(json_path.read_text())
    except FileNotFoundError:
        raise UserError(f"{what} {json_path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{what} {json_path} is not valid JSON ({err}); {hint}") from None


def require_keys(header: dict, keys, json_path: Path) -> None:
    """UserError for the first of `keys` the header lacks: the file is damaged."""
    for key in keys:
        if key not in header:
            raise UserError(f"{json_path} lacks {key!r}; the file is damaged")


def read_header(json_path: str | Path) -> dict:
    json_path = Path(json_path)
    header = read_json(json_path, "checkpoint", "it may be truncated")
    if not isinstance(header, dict) or header.get("format") not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        raise UserError(f"{json_path} is not a cdgmvae model or checkpoint (no 'format' of {MODEL_FORMAT!r})")
    if header.get("version") != VERSION:
        raise UserError(f"{json_path} has format version {header.get('version')}, this cdgmvae reads {VERSION}")
    if header.get("vocab_fingerprint") != vocab.fingerprint():
        raise UserError(f"{json_path} was trained with another vocabulary "
                        f"(fingerprint {header.get('vocab_fingerprint')}, this cdgmvae has {vocab.fingerprint()}); "
                        f"retrain or use a matching cdgmvae version")
    require_keys(header, ("config", "step"), json_path)
    entries = header.get("shards") if "shards" in header else [header]
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{json_path} has an empty or malformed 'shards' list; the file is damaged")
    for entry in entries:
        for key in FILE_FIELDS:
            if not isinstance(entry, dict) or key not in entry:
                raise UserError(f"{json_path} lacks {key!r}; the file is damaged")
    return header


def _read_file(json_path: Path, entry: dict) -> dict[str, torch.Tensor]:
    path = json_path.parent / entry["weights"]
    if not path.is_file():
        raise UserError(f"weights file {path} named by {json_path} is missing")
    size = path.stat().st_size
    if size != entry["weights_bytes"]:
        raise UserError(f"weights file {path} is truncated or damaged: {size} bytes, {json_path} says "
                        f"{entry['weights_bytes']}")
    if file_sha256(path) != entry["weights_sha256"]:
        raise UserError(f"weights file {path} is damaged: its SHA-256 differs from the one {json_path} records")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"weights file {path} is damaged and cannot be read ({err})") from None


def read_tensors(json_path: str | Path, header: dict) -> dict[str, torch.Tensor]:
    """All tensors of the file or shards that `header` (read from json_path) names, each checked against
    its recorded size and SHA-256. Raises UserError naming the missing or damaged file."""
    tensors: dict[str, torch.Tensor] = {}
    for entry in file_entries(header):
        tensors.update(_read_file(Path(json_path), entry))
    return tensors


def load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict with a message that lists missing, unexpected and mis-shaped keys."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    shapes = [f"{k} {tuple(tensors[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
              if k in tensors and tensors[k].shape != v.shape]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", extra), ("wrong shapes", shapes)):
        if items:
            more = f" and {len(items) - 5} more" if len(items) > 5 else ""
            problems.append(f"{label}: {', '.join(items[:5])}{more}")
    if problems:
        raise UserError(f"{source} does not fit this model ({'; '.join(problems)})")
    module.load_state_dict(tensors)


def config_of(header: dict, source) -> ModelConfig:
    try:
        return ModelConfig.from_dict(header["config"])
    except TypeError as err:
        raise UserError(f"{source} has an unusable config ({err})") from None


def resolve(path_or_dir: str | Path) -> Path:
    """A model's JSON from a folder (model.json, else ckpt/best.json, else ckpt/last.json), a .safetensors
    file (its sibling .json) or a .json file."""
    path = Path(path_or_dir)
    if path.is_dir():
        for candidate in ("model.json", "ckpt/best.json", "ckpt/last.json"):
            if (path / candidate).is_file():
                return path / candidate
        raise UserError(f"{path} holds no model.json or ckpt/last.json; pass a model file or a training run folder")
    if path.suffix == ".safetensors":
        return path.with_name(SHARD_NAME.sub("", path.stem) + ".json")
    if not path.exists():
        raise UserError(f"model {path} does not exist")
    return path


def load_model(path_or_dir: str | Path, device: str | torch.device = "cpu") -> tuple[CDGMVAE, ModelConfig]:
    """An inference model (eval mode) from a model file, a training checkpoint, or a run folder."""
    json_path = resolve(path_or_dir)
    header = read_header(json_path)
    config = config_of(header, json_path)
    tensors = read_tensors(json_path, header)
    if header["format"] == CHECKPOINT_FORMAT:
        tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model = CDGMVAE(config)
    load_state(model, tensors, str(json_path))
    return model.to(device).eval(), config


# --- training checkpoints -----------------------------------------------------------------------------
def _optimizer_tensors(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Optimizer state by parameter name: tensors for safetensors, scalars (e.g. Adam's step) for JSON."""
    names = [name for name, _ in model.named_parameters()]
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, param_state in state["state"].items():
        for key, value in param_state.items():
            if torch.is_tensor(value) and value.dim() > 0:
                tensors[f"optim.{names[index]}.{key}"] = value
            else:
                scalars.setdefault(names[index], {})[key] = float(value)
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _restore_optimizer(model, optimizer, tensors: dict, saved: dict, source: str) -> None:
    names = [name for name, _ in model.named_parameters()]
    state = {}
    for index, name in enumerate(names):
        entry = {key: torch.tensor(value, dtype=torch.float32) for key, value in saved["scalars"].get(name, {}).items()}
        prefix = f"optim.{name}."
        entry.update({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        if entry:
            state[index] = entry
    try:
        optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    except (ValueError, KeyError) as err:
        raise UserError(f"{source}: optimizer state does not fit ({err})") from None


def save_checkpoint(folder: str | Path, tags: list[str], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    step: int, extra: dict, max_file_bytes: int | None = None) -> None:
    """Write ckpt tensors for `step` (sharded as in write_tensors) and point each tag's JSON (e.g. "last",
    "best") at them; files that no tag names any more are removed. `extra` (sampler, RNG, arguments, metrics)
    goes into the JSON."""
    folder = Path(folder)
    optim_tensors, optim_json = _optimizer_tensors(model, optimizer)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()} | optim_tensors
    weights = write_tensors(folder / f"step-{step:08d}.safetensors", tensors, max_file_bytes)
    header = _header(model.cfg, step, CHECKPOINT_FORMAT, weights) | {"optimizer": optim_json, **extra}
    for tag in tags:
        write_json(folder / f"{tag}.json", header)
    headers = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    referenced = {entry.get("weights") for h in headers for entry in h.get("shards", [h])}
    _remove_stale(folder, "step-*.safetensors", referenced)


def _check_config(header: dict, json_path, config: ModelConfig, hint: str) -> None:
    saved = config_of(header, json_path)
    if saved != config:
        diff = {k: (v, getattr(config, k)) for k, v in saved.to_dict().items() if getattr(config, k) != v}
        raise UserError(f"{json_path} was trained with another model config (saved vs now: {diff}); {hint}")


def load_weights(path_or_dir: str | Path, model: CDGMVAE, config: ModelConfig) -> tuple[Path, dict]:
    """Load only the weights of a model or training checkpoint (a folder as in `resolve`) into `model`,
    whose config must equal the saved one, except that it may turn on GROWTH_FIELDS (engine/config.py), whose
    parts keep `model`'s initial values. Returns (the JSON read, its header). Raises UserError in one
    line for another vocabulary, another config, or missing, damaged or mis-shaped weights."""
    json_path = resolve(path_or_dir)
    header = read_header(json_path)
    grown = growth(config_of(header, json_path), config)  # e.g. small -> small-bag: the new parts start fresh
    _check_config(header, json_path, replace(config, **dict.fromkeys(grown, False)),
                  "choose the same --config (a preset or its JSON) to start from it")
    tensors = read_tensors(json_path, header)
    if header["format"] == CHECKPOINT_FORMAT:
        tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    new_parts = tuple(prefix for name in grown for prefix in GROWTH_FIELDS[name])
    tensors = tensors | {k: v for k, v in model.state_dict().items() if k.startswith(new_parts) and k not in tensors}
    load_state(model, tensors, str(json_path))
    return json_path, header


def growth(saved: ModelConfig, config: ModelConfig) -> list[str]:
    """The GROWTH_FIELDS that `config` turns on and `saved` has off (parts a loaded model gains)."""
    return [name for name in GROWTH_FIELDS if getattr(config, name) and not getattr(saved, name)]


def load_checkpoint(json_path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    config: ModelConfig) -> dict:
    """Restore model and optimizer from a training checkpoint; returns its JSON header."""
    header = read_header(json_path)
    if header["format"] != CHECKPOINT_FORMAT:
        raise UserError(f"{json_path} holds weights only; --resume needs a training checkpoint (ckpt/last.json)")
    _check_config(header, json_path, config, "use the same --config or a new --out folder")
    tensors = read_tensors(json_path, header)
    load_state(model, {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}, str(json_path))
    _restore_optimizer(model, optimizer, {k: v for k, v in tensors.items() if k.startswith("optim.")},
                       header["optimizer"], str(json_path))
    return header
