"""Weights and training checkpoints as safetensors + JSON; no pickle anywhere.

Inference model:      NAME.safetensors (weights) + NAME.json (config, vocabulary fingerprint, step).
Training checkpoint:  ckpt/step-XXXXXXXX.safetensors ("model.*" and "optim.*" tensors) + ckpt/last.json
                      and ckpt/best.json (config, fingerprint, step, optimizer scalars, sampler/RNG state).
Every file is written to a temporary name and moved into place with os.replace; the JSON, written last,
names its tensor file with that file's size and SHA-256, so a reader never pairs a JSON with a half-written
or damaged file.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cdgmvae.engine import vocab
from cdgmvae.engine.config import ModelConfig
from cdgmvae.engine.errors import UserError
from cdgmvae.engine.model import CDGMVAE

VERSION = 1
MODEL_FORMAT = "cdgmvae-model"
CHECKPOINT_FORMAT = "cdgmvae-checkpoint"


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


def write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> dict:
    """Atomically write a safetensors file; returns the JSON fields that identify it (name, size, sha256)."""
    path = Path(path)
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    _atomic_write(path, lambda tmp: save_file(cpu, tmp))
    return {"weights": path.name, "weights_bytes": path.stat().st_size, "weights_sha256": file_sha256(path)}


def _header(config: ModelConfig, step: int, fmt: str, weights: dict) -> dict:
    return {"format": fmt, "version": VERSION, "config": config.to_dict(), "vocab_fingerprint": vocab.fingerprint(),
            "step": int(step), **weights}


def save_model(model: CDGMVAE, folder: str | Path, step: int, name: str = "model") -> Path:
    """Weights for inference: folder/NAME.safetensors + folder/NAME.json. Returns the JSON path."""
    folder = Path(folder)
    weights = write_tensors(folder / f"{name}.safetensors", model.state_dict())
    json_path = folder / f"{name}.json"
    write_json(json_path, _header(model.cfg, step, MODEL_FORMAT, weights))
    return json_path


# --- reading ------------------------------------------------------------------------------------------
def read_header(json_path: str | Path) -> dict:
    json_path = Path(json_path)
    try:
        header = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise UserError(f"checkpoint {json_path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"checkpoint {json_path} is not valid JSON ({err}); it may be truncated") from None
    if not isinstance(header, dict) or header.get("format") not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        raise UserError(f"{json_path} is not a cdgmvae model or checkpoint (no 'format' of {MODEL_FORMAT!r})")
    if header.get("version") != VERSION:
        raise UserError(f"{json_path} has format version {header.get('version')}, this cdgmvae reads {VERSION}")
    if header.get("vocab_fingerprint") != vocab.fingerprint():
        raise UserError(f"{json_path} was trained with another vocabulary (fingerprint {header.get('vocab_fingerprint')},"
                        f" this cdgmvae has {vocab.fingerprint()}); retrain or use a matching cdgmvae version")
    for key in ("config", "weights", "weights_bytes", "weights_sha256", "step"):
        if key not in header:
            raise UserError(f"{json_path} lacks {key!r}; the file is damaged")
    return header


def read_tensors(json_path: str | Path, header: dict) -> dict[str, torch.Tensor]:
    path = Path(json_path).parent / header["weights"]
    if not path.is_file():
        raise UserError(f"weights file {path} named by {json_path} is missing")
    size = path.stat().st_size
    if size != header["weights_bytes"]:
        raise UserError(f"weights file {path} is truncated or damaged: {size} bytes, {json_path} says "
                        f"{header['weights_bytes']}")
    if file_sha256(path) != header["weights_sha256"]:
        raise UserError(f"weights file {path} is damaged: its SHA-256 differs from the one {json_path} records")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"weights file {path} is damaged and cannot be read ({err})") from None


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
            problems.append(f"{label}: {', '.join(items[:5])}" + (f" and {len(items) - 5} more" if len(items) > 5 else ""))
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
        return path.with_suffix(".json")
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
                    step: int, extra: dict) -> None:
    """Write ckpt tensors for `step` and point each tag's JSON (e.g. "last", "best") at them; files that no
    tag names any more are removed. `extra` (sampler, RNG, arguments, metrics) goes into the JSON."""
    folder = Path(folder)
    optim_tensors, optim_json = _optimizer_tensors(model, optimizer)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()} | optim_tensors
    weights = write_tensors(folder / f"step-{step:08d}.safetensors", tensors)
    header = _header(model.cfg, step, CHECKPOINT_FORMAT, weights) | {"optimizer": optim_json, **extra}
    for tag in tags:
        write_json(folder / f"{tag}.json", header)
    referenced = {json.loads(p.read_text()).get("weights") for p in folder.glob("*.json")}
    for stale in folder.glob("step-*.safetensors"):
        if stale.name not in referenced:
            stale.unlink()


def _check_config(header: dict, json_path, config: ModelConfig, hint: str) -> None:
    saved = config_of(header, json_path)
    if saved != config:
        diff = {k: (v, getattr(config, k)) for k, v in saved.to_dict().items() if getattr(config, k) != v}
        raise UserError(f"{json_path} was trained with another model config (saved vs now: {diff}); {hint}")


def load_weights(path_or_dir: str | Path, model: CDGMVAE, config: ModelConfig) -> tuple[Path, dict]:
    """Load only the weights of a model or training checkpoint (a folder as in `resolve`) into `model`,
    whose config must equal the saved one. Returns (the JSON read, its header). Raises UserError in one
    line for another vocabulary, another config, or missing, damaged or mis-shaped weights."""
    json_path = resolve(path_or_dir)
    header = read_header(json_path)
    _check_config(header, json_path, config, "choose the same --config (a preset or its JSON) to start from it")
    tensors = read_tensors(json_path, header)
    if header["format"] == CHECKPOINT_FORMAT:
        tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    load_state(model, tensors, str(json_path))
    return json_path, header


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
