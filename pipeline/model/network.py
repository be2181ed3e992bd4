"""The topic-conditioned LSTM language model over LaTeX tokens: a plain `nn.Module`.

Nothing here knows Lightning or Hydra (nanoGPT's model.py is the pattern): a config dataclass,
`forward(ids, theta, targets) -> (logits, loss)`, one decoding `step` with the recurrent state
carried, `generate` for quick looks, per-sequence log-likelihoods for evaluation and judging, and
a self-describing model file (`save_model` / `load_model`) that needs only PyTorch to read.

θ (the paper's topic vector, `num_topics` floats summing to 1) conditions the model through
`topic_input`:
  concat  θ (times `topic_scale`) is concatenated to the token embedding at every step;
  init    θ is projected (a linear layer, tanh) into the initial hidden and cell state of every layer;
  both    the two together;
  none    θ is ignored at the input;
and through `topic_output`, on the way out (each starts as the identity: its weights start at zero):
  bias    logits + W·θ: a topic's own preference for tokens, whatever the state (TopicRNN, Dieng et
          al. 2017, without its stop-word switch);
  gate    the LSTM's output scaled unit by unit by 1 + tanh(G·θ) before the output layer;
  both    the two together;
  none    nothing.
`topic_input=none` with `topic_output=none` is the ablation: a plain language model of the same size.
With `topic_log_floor` > 0 every path reads log1p(θ/floor) / log1p(1/floor) instead of θ (0 -> 0, floor
-> 0.1, 1 -> 1): a paper's small topic shares (1e-4 against 1e-2) then differ as much as its large ones.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.errors import StageError

TOPIC_INPUTS = ("concat", "init", "both", "none")
TOPIC_OUTPUTS = ("none", "bias", "gate", "both")
MODEL_FORMAT = 1  # bump when the file layout of model.pt changes

State = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class NetworkConfig:
    vocab_size: int
    num_topics: int
    embedding: int          # token embedding width (= hidden to tie the output layer to it)
    hidden: int             # LSTM units a layer
    layers: int
    dropout: float
    topic_input: str        # concat | init | both | none
    topic_output: str       # none | bias | gate | both
    topic_scale: float      # θ is multiplied by this before it enters (its entries are small)
    topic_log_floor: float  # > 0: θ read on a log scale above this floor (0: as it is)
    tie_weights: bool       # output layer shares the embedding matrix (a projection if widths differ)
    pad_id: int
    embed_init_std: float   # the embedding's initial standard deviation (only training reads it)

    def __post_init__(self) -> None:
        if self.topic_input not in TOPIC_INPUTS:
            raise ValueError(f"model.topic_input={self.topic_input!r}: use one of {', '.join(TOPIC_INPUTS)}")
        if self.topic_output not in TOPIC_OUTPUTS:
            raise ValueError(f"model.topic_output={self.topic_output!r}: use one of {', '.join(TOPIC_OUTPUTS)}")
        if min(self.vocab_size, self.num_topics, self.embedding, self.hidden, self.layers) < 1:
            raise ValueError(f"network sizes must be positive: {self}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"model.dropout={self.dropout} must be in [0, 1)")
        if self.topic_log_floor < 0:
            raise ValueError(f"model.topic_log_floor={self.topic_log_floor} must be >= 0 (0: θ as it is)")
        if not self.embed_init_std > 0:
            raise ValueError(f"model.embed_init_std={self.embed_init_std} must be positive")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NetworkConfig":
        names = {f.name for f in fields(cls)}
        unknown, missing = set(d) - names, names - set(d)
        if unknown or missing:
            raise ValueError(f"network settings {sorted(unknown or missing)} {'unknown' if unknown else 'missing'}: "
                             "this model file is from another version; train again with this one")
        return cls(**d)


class TopicLSTM(nn.Module):
    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.uses_concat = cfg.topic_input in ("concat", "both")
        self.uses_init = cfg.topic_input in ("init", "both")
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embedding, padding_idx=cfg.pad_id)
        self.drop = nn.Dropout(cfg.dropout)
        in_dim = cfg.embedding + (cfg.num_topics if self.uses_concat else 0)
        self.lstm = nn.LSTM(in_dim, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.init_state = nn.Linear(cfg.num_topics, 2 * cfg.layers * cfg.hidden) if self.uses_init else None
        out_dim = cfg.embedding if cfg.tie_weights else cfg.hidden
        self.project = nn.Linear(cfg.hidden, out_dim) if out_dim != cfg.hidden else None
        self.head = nn.Linear(out_dim, cfg.vocab_size)
        self.topic_bias = nn.Linear(cfg.num_topics, cfg.vocab_size, bias=False) \
            if cfg.topic_output in ("bias", "both") else None
        self.topic_gate = nn.Linear(cfg.num_topics, cfg.hidden, bias=False) \
            if cfg.topic_output in ("gate", "both") else None
        if cfg.tie_weights:
            self.head.weight = self.embed.weight
        self._init_weights()

    def _init_weights(self) -> None:
        # The embedding is also the output layer (tied). A small std (0.05 was tried) starves the
        # LSTM's input: 600-step validation perplexity 18.85 against 11.45 with std 1 (docs/measurements.md).
        nn.init.normal_(self.embed.weight, std=self.cfg.embed_init_std)
        with torch.no_grad():
            self.embed.weight[self.cfg.pad_id].zero_()
        nn.init.zeros_(self.head.bias)
        for layer in (self.topic_bias, self.topic_gate):  # start as the identity: θ earns its way in
            if layer is not None:
                nn.init.zeros_(layer.weight)
        for name, p in self.lstm.named_parameters():
            if "bias" in name:  # forget-gate bias 1: gradients flow through long equations early on
                nn.init.zeros_(p)
                h = self.cfg.hidden
                p.data[h : 2 * h] = 1.0

    # --- the recurrent core ------------------------------------------------------------------
    def topic_features(self, theta: Tensor) -> Tensor:
        """What the topic paths read: θ, or θ on a log scale (`topic_log_floor`)."""
        f = self.cfg.topic_log_floor
        if f <= 0:
            return theta
        return torch.log1p(theta.float() / f) / torch.log1p(torch.tensor(1.0 / f))

    def initial_state(self, theta: Tensor) -> State | None:
        """(h0, c0) from θ's features (`topic_features`) for `init`/`both`; None (zeros) otherwise. [B, K]."""
        if self.init_state is None:
            return None
        b = theta.shape[0]
        hc = torch.tanh(self.init_state(theta.to(self.init_state.weight.dtype) * self.cfg.topic_scale))
        hc = hc.view(b, 2, self.cfg.layers, self.cfg.hidden).permute(1, 2, 0, 3).contiguous()
        return hc[0], hc[1]

    def _inputs(self, ids: Tensor, theta: Tensor) -> Tensor:
        x = self.drop(self.embed(ids))
        if self.uses_concat:
            t = (theta * self.cfg.topic_scale).to(x.dtype).unsqueeze(1).expand(-1, ids.shape[1], -1)
            x = torch.cat([x, t], dim=-1)
        return x

    def _logits(self, out: Tensor, theta: Tensor) -> Tensor:
        """out: [B, T, H] or [B, H]; θ: [B, K]."""
        t = theta.to(out.dtype)
        if out.dim() == 3:
            t = t.unsqueeze(1)
        if self.topic_gate is not None:
            out = out * (1 + torch.tanh(self.topic_gate(t)))
        out = self.drop(out)
        if self.project is not None:
            out = self.project(out)
        logits = self.head(out)
        if self.topic_bias is not None:
            logits = logits + self.topic_bias(t)
        return logits

    def forward(self, ids: Tensor, theta: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """ids, targets: [B, T] token ids (targets = ids shifted by one; pad_id is not scored);
        θ: [B, K]. Returns logits [B, T, V] and the mean cross-entropy over scored tokens."""
        theta = self.topic_features(theta)
        out, _ = self.lstm(self._inputs(ids, theta), self.initial_state(theta))
        logits = self._logits(out, theta)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                               ignore_index=self.cfg.pad_id)
        return logits, loss

    def token_nll(self, ids: Tensor, theta: Tensor, targets: Tensor) -> Tensor:
        """Negative log-likelihood (nats) of every target token, 0 at padding: [B, T]."""
        logits, _ = self.forward(ids, theta)
        nll = F.cross_entropy(logits.transpose(1, 2).float(), targets, ignore_index=self.cfg.pad_id,
                              reduction="none")
        return nll

    def sequence_log_likelihood(self, ids: Tensor, theta: Tensor, targets: Tensor) -> Tensor:
        """log p(sequence | θ) in nats, one per row: the conditional likelihood a judge compares
        across topics (`theta` rows may be different topics for the same sequence)."""
        return -self.token_nll(ids, theta, targets).sum(dim=1)

    def step(self, ids: Tensor, theta: Tensor, state: State | None) -> tuple[Tensor, State]:
        """One decoding step: ids [B] (the last tokens), θ [B, K], the state from the previous step
        (None before the first: `initial_state(θ)` is used). Returns logits [B, V] and the new state."""
        theta = self.topic_features(theta)
        if state is None:
            state = self.initial_state(theta)
        out, state = self.lstm(self._inputs(ids.unsqueeze(1), theta), state)
        return self._logits(out[:, 0], theta), state

    @torch.no_grad()
    def generate(self, theta: Tensor, bos_id: int, eos_id: int, max_len: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> list[list[int]]:
        """Plain sampling (no syntax rules; the sample stage has those): one sequence per θ row,
        from <bos> up to <eos> (excluded) or `max_len` tokens."""
        b = theta.shape[0]
        ids = torch.full((b,), bos_id, dtype=torch.long, device=theta.device)
        state = None
        out: list[list[int]] = [[] for _ in range(b)]
        live = torch.ones(b, dtype=torch.bool, device=theta.device)
        for _ in range(max_len):
            logits, state = self.step(ids, theta, state)
            if temperature <= 0:
                nxt = logits.argmax(-1)
            else:
                probs = torch.softmax(logits.float() / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            for i in torch.nonzero(live & (nxt != eos_id)).flatten().tolist():
                out[i].append(int(nxt[i]))
            live &= nxt != eos_id
            if not live.any():
                break
            ids = nxt
        return out

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# --- the model file --------------------------------------------------------------------------

def save_model(path: str | Path, net: TopicLSTM, data: dict[str, Any]) -> None:
    """`train/model.pt`: weights, the network's config and what it was trained on (`data`: hashes
    of the vocabulary and of the topic model and θ, token names...). Plain tensors, dicts, lists,
    strings and numbers only, so `torch.load(path, weights_only=True)` reads it."""
    from pipeline.atomic import atomic_path

    blob = {"format": MODEL_FORMAT, "config": asdict(net.cfg), "data": data,
            "weights": {k: v.detach().cpu() for k, v in net.state_dict().items()}}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


class ModelFileError(StageError, ValueError):
    """A file that is not a model this version can read."""


class MissingModelError(StageError, FileNotFoundError):
    """No model file where one was expected."""


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[TopicLSTM, dict[str, Any]]:
    """The network of a model file and its `data` record; clear errors for files that are not one."""
    path = Path(path)
    if not path.is_file():
        raise MissingModelError(f"{path}: no model file here; run `python -m pipeline stage=train` first")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a pickle with code in it, a truncated file, another format
        raise ModelFileError(f"{path}: not a model file this version can read safely ({type(exc).__name__}: {exc})") from exc
    if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT or "weights" not in blob:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ModelFileError(f"{path}: not a model file of format {MODEL_FORMAT} (found {found}); train again with this version")
    net = TopicLSTM(NetworkConfig.from_dict(blob["config"]))
    net.load_state_dict(blob["weights"])
    net.eval()
    return net, blob.get("data", {})


def load_lightning_weights(net: TopicLSTM, ckpt: Path) -> None:
    """The network's weights from a Lightning checkpoint of the train stage's module (`net.*` keys)."""
    if not Path(ckpt).is_file():
        raise MissingModelError(f"{ckpt}: no such checkpoint; train first (python -m pipeline stage=train)")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    net.load_state_dict({k[len("net."):]: v for k, v in state.items() if k.startswith("net.")})
