"""Log-likelihoods for lm-eval, computed with less work than its ``HFLM`` and the same numbers.

``BucketLM`` is lm-eval's ``HFLM`` with two methods replaced:

- ``loglikelihood`` tokenizes each (context, continuation) as ``HFLM`` does, remembering the
  result per tokenizer, so the checkpoints of a series (one tokenizer) tokenize each request once;
- ``_loglikelihood_tokens`` runs each distinct input once (identical requests, and the one-token
  answers of one multiple-choice context, share a row, as ``HFLM``'s logits cache does), batches
  inputs of the same length (nothing is padded, so no row's numbers depend on its neighbours), asks the model
  for the logits of the continuation's positions only (``logits_to_keep``: a WinoBias coreference
  request unembeds 2 of its 25 positions), and takes ``log_softmax`` of those positions alone, in
  the dtype ``HFLM`` uses (``softmax_dtype``, else the model's). The greedy check compares the
  continuation with the argmax of those positions only.

The values agree with ``HFLM`` to float rounding (tests/test_lm_eval_cli.py checks item by item):
the same arithmetic on the same positions, in batches that differ only in which rows share them.
Requests go by descending length, as ``HFLM``'s do, under one progress bar with an ETA.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from typing import Any

from lm_eval.models.huggingface import HFLM
from tqdm import tqdm

log = logging.getLogger(__name__)

Request = tuple[Any, list[int], list[int]]
# Tokenized (context, continuation) pairs, per tokenizer (its sha256): a series shares one.
_ENCODED: dict[str, dict[tuple[str, str], tuple[list[int], list[int]]]] = defaultdict(dict)


def tokenizer_key(tokenizer: Any, prefix_token_id: int | None = None) -> str:
    """What decides a request's encoding: the tokenizer's class and full serialisation (vocabulary,
    merges, rules, special tokens) and the token that conditions an empty context."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    special = repr(sorted((k, str(v)) for k, v in (tokenizer.special_tokens_map or {}).items()))
    return hashlib.sha256(f"{type(tokenizer).__name__}\n{prefix_token_id}\n{special}\n{text}".encode()).hexdigest()


class BucketLM(HFLM):
    """``HFLM`` with the scoring this module describes; everything else is lm-eval's."""

    def __init__(self, *args: Any, progress: str = "scoring", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encoded = _ENCODED[tokenizer_key(self.tokenizer, self.prefix_token_id)]
        self._progress = progress
        self._bar: tqdm | None = None
        self.truncated = 0  # requests longer than the model's context, cut from the left
        self.windowed = 0  # continuations longer than the model's context, scored in pieces (_in_windows)

    def bar(self, more: int) -> tqdm:
        """The checkpoint's one progress bar, over every scoring call lm-eval makes (loglikelihood,
        then the rolling windows batch by batch): its total grows with each call."""
        if self._bar is None:
            self._bar = tqdm(total=more, desc=self._progress, unit="request", disable=self.rank != 0, mininterval=2.0,
                             leave=False)
        else:
            self._bar.total += more
            self._bar.refresh()
        return self._bar

    def close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        new_reqs = []
        for req in requests:
            context, continuation = req.args
            key = (context, continuation)
            if key not in self._encoded:
                if context == "":  # as HFLM: the prefix token (EOS for Pythia) conditions the first word
                    cont = self.tok_encode(continuation, add_special_tokens=False)
                    self._encoded[key] = (([self.prefix_token_id], cont) if self.prefix_token_id != cont[0]
                                          else (cont[:1], cont[1:]))
                else:
                    self._encoded[key] = self._encode_pair(context, continuation)
            new_reqs.append((key, *self._encoded[key]))
        return self._loglikelihood_tokens(new_reqs, disable_tqdm=disable_tqdm)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """lm-eval's windows, without its own bar over the texts: the scoring bar counts them."""
        return super().loglikelihood_rolling(requests, disable_tqdm=True)

    def _loglikelihood_tokens(self, requests: list[Request], disable_tqdm: bool = False,
                              override_bs: int | None = None) -> list[tuple[float, bool]]:
        if self.backend != "causal":
            return super()._loglikelihood_tokens(requests, disable_tqdm=disable_tqdm, override_bs=override_bs)
        import torch

        # Each request as HFLM cuts it: the model's input (all but the last of the last max_length + 1
        # tokens) and its continuation's tokens. Requests with one input share one row: identical
        # requests, and the one-token answers of a multiple-choice context (HFLM's logits cache).
        if any(len(cont) > self.max_length for _, _, cont in requests):
            return self._in_windows(requests)
        rows: dict[tuple[int, ...], dict[tuple[int, ...], list[int]]] = defaultdict(lambda: defaultdict(list))
        for i, (_, context_enc, continuation_enc) in enumerate(requests):
            if not context_enc or not continuation_enc:
                raise ValueError(f"request {i}: empty context or continuation")
            if len(context_enc) + len(continuation_enc) > self.max_length + 1:
                self.truncated += 1
            tokens = (context_enc + continuation_enc)[-(self.max_length + 1):]
            rows[tuple(tokens[:-1])][tuple(continuation_enc)].append(i)
        by_length: dict[int, list[tuple[int, ...]]] = defaultdict(list)
        for inp in rows:
            by_length[len(inp)].append(inp)
        answers: list[tuple[float, bool] | None] = [None] * len(requests)
        batch = self.batch_size if isinstance(self.batch_size, int) and self.batch_size > 0 else 32
        bar = self.bar(len(requests))
        for length in sorted(by_length, reverse=True):
            inputs_of_length = sorted(by_length[length])
            for start in range(0, len(inputs_of_length), batch):
                chunk = inputs_of_length[start:start + batch]
                members = [(r, cont) for r, inp in enumerate(chunk) for cont in rows[inp]]
                keep = max(len(cont) for _, cont in members)
                inputs = torch.tensor(chunk, dtype=torch.long, device=self.device)
                logprobs = torch.log_softmax(self._continuation_logits(inputs, keep), dim=-1,
                                             dtype=self.softmax_dtype)  # [rows, keep, vocab]
                best = logprobs.argmax(dim=-1)
                for r, cont in members:
                    n = len(cont)
                    target = torch.tensor(cont, dtype=torch.long, device=self.device)
                    scored = logprobs[r, keep - n:].gather(-1, target.unsqueeze(-1)).squeeze(-1)
                    answer = (float(scored.sum()), bool((best[r, keep - n:] == target).all()))
                    for i in rows[chunk[r]][cont]:
                        answers[i] = answer
                        if requests[i][0] is not None:  # a rolling window has no request string
                            self.cache_hook.add_partial("loglikelihood", requests[i][0], answer)
                    bar.update(len(rows[chunk[r]][cont]))
                del logprobs
        return answers  # type: ignore[return-value]

    def _in_windows(self, requests: list[Request]) -> list[tuple[float, bool]]:
        """Requests whose continuation is longer than the model's context (a CrowS-Pairs sentence
        for a model trained on 32-token rows, where lm-eval asserts): each such continuation is
        scored in pieces of at most ``max_length`` tokens, every piece conditioned on the tokens
        before it (the context and the earlier pieces, cut to the model's context from the left),
        as lm-eval's rolling windows score a text. Its log-likelihood is the sum over the pieces,
        and it is greedy when every piece is."""
        pieces: list[Request] = []
        owner: list[int] = []
        for i, (key, context, continuation) in enumerate(requests):
            if len(continuation) <= self.max_length:
                pieces.append((key, context, continuation))
                owner.append(i)
                continue
            self.windowed += 1
            for start in range(0, len(continuation), self.max_length):
                pieces.append((None, context + continuation[:start], continuation[start:start + self.max_length]))
                owner.append(i)
        scored = self._loglikelihood_tokens(pieces)
        total = [0.0] * len(requests)
        greedy = [True] * len(requests)
        for i, (ll, best) in zip(owner, scored, strict=True):
            total[i] += ll
            greedy[i] = greedy[i] and best
        answers = list(zip(total, greedy, strict=True))
        for i, (key, _, continuation) in enumerate(requests):
            if key is not None and len(continuation) > self.max_length:
                self.cache_hook.add_partial("loglikelihood", key, answers[i])
        return answers

    def _continuation_logits(self, inputs: Any, keep: int) -> Any:
        """Logits of the last ``keep`` positions of each row (all positions where the model's
        forward has no ``logits_to_keep``)."""
        import torch

        with torch.inference_mode(), torch.autocast(device_type=self.device.type, dtype=self.mixed_precision_dtype,
                                                    enabled=self.mixed_precision_dtype is not None):
            try:
                out = self.model(inputs, logits_to_keep=keep, use_cache=False)
            except TypeError:  # an architecture whose forward predates logits_to_keep
                out = self.model(inputs, use_cache=False)
        return out.logits[:, -keep:, :]
