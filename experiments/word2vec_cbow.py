"""word2vec CBOW on the standard-library docstrings, trained with hand-written gradients.

Run: python experiments/word2vec_cbow.py [--epochs 8] [--dim 64] [--window 3]

The model predicts a word from the mean of the embeddings of the ``2·window`` words around it:
context ids ``[B, 2w]`` -> embedding ``[B, 2w, D]`` -> mean over the context ``[B, D]``
(global_avg_pool) -> dense ``[B, V]`` -> full-softmax cross-entropy against the centre word.
Frequent words are subsampled (word2vec's ``keep = √(t/f) + t/f``), words outside the
vocabulary are dropped from the stream. The full model's manual gradients are verified against
autodiff and finite differences on 16 examples before training. Writes experiments/out/
word2vec_cbow.md (loss table, nearest neighbours) and word2vec_cbow.png when matplotlib is
installed.
"""

import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from plotting import pyplot

import funcnet as fn
from funcnet.data.docstrings import build_vocab, encode, stdlib_docstrings, word_tokens
from funcnet.layers import dense, embedding, global_avg_pool, serial

OUT = pathlib.Path(__file__).parent / "out"
QUERIES = ("file", "list", "return", "string", "error", "thread", "socket", "true")
BATCH, MIN_COUNT, SUBSAMPLE_T, NEIGHBOURS = 256, 5, 1e-3, 6


def subsample(ids: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Drop out-of-vocabulary ids (0), then each frequent word with word2vec's probability."""
    ids = ids[ids != 0]
    f = counts[ids] / counts[1:].sum()
    keep = np.minimum(1.0, np.sqrt(SUBSAMPLE_T / f) + SUBSAMPLE_T / f)
    return ids[rng.random(len(ids)) < keep]


def split_blocks(ids: np.ndarray, block: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Every 10th block of ``block`` words for validation, the rest for training.

    Interleaved blocks keep every module's vocabulary on both sides (the corpus is ordered by
    module, so a tail split would hold out only ``xml``…``zlib``).
    """
    blocks = np.arange(len(ids)) // block
    return ids[blocks % 10 != 9], ids[blocks % 10 == 9]


def cbow_examples(ids: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``(context [n, 2w], centre [n])`` for every position with a full window."""
    offsets = np.r_[-window:0, 1 : window + 1]
    centre = np.arange(window, len(ids) - window)
    return ids[centre[:, None] + offsets].astype(np.int32), ids[centre].astype(np.int32)


def cbow_model(vocab_size: int, dim: int) -> fn.Layer:
    """context ids ``[B, 2w]`` -> logits ``[B, V]``."""
    return serial(
        embedding(vocab_size, dim), global_avg_pool(num_position_axes=1), dense(vocab_size)
    )


def check_gradients(model, params, state, x, t) -> fn.verify.Report:
    """``verify_model`` of the full model on 16 real examples.

    The check's finite differences move every parameter of a leaf at once along a random
    direction; at 340k parameters (a sparse embedding gradient) the directional derivative is
    so small that float64 rounding of the loss alone reaches 1e-6 of it. The verifier measures
    that rounding noise and sets each leaf's floor from it (funcnet/verify/tolerances.py).
    """
    loss = fn.softmax_cross_entropy_with_integer_labels()
    return fn.verify_model(model, params, state, (x[:16], t[:16]), loss, name="cbow")


def nearest(table: np.ndarray, vocab, word: str, k: int) -> list[tuple[str, float]]:
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    sims = unit @ unit[vocab.index[word]]
    order = [i for i in np.argsort(-sims) if i not in (0, vocab.index[word])][:k]
    return [(vocab.words[i], float(sims[i])) for i in order]


def main(epochs: int, dim: int, window: int, lr: float) -> None:
    start = time.perf_counter()
    tokens = word_tokens(stdlib_docstrings())
    vocab = build_vocab(tokens, min_count=MIN_COUNT)
    ids, counts = encode(tokens, vocab), np.asarray(vocab.counts, np.float64)
    train_ids, valid_ids = split_blocks(ids)
    valid = subsample(valid_ids, counts, np.random.default_rng(0))
    valid_x, valid_t = cbow_examples(valid, window)
    seconds = time.perf_counter() - start
    print(
        f"corpus: {len(tokens):,} words, vocabulary {len(vocab):,} (min count {MIN_COUNT}), "
        f"{len(valid_t):,} validation examples ({seconds:.1f} s)"
    )

    model, loss = cbow_model(len(vocab), dim), fn.softmax_cross_entropy_with_integer_labels()
    _, params, state = model.init(jax.random.key(0), (BATCH, 2 * window))
    examples = cbow_examples(train_ids[train_ids != 0][:100], window)
    report = check_gradients(model, params, state, *examples)
    print(report)
    report.raise_if_failed()
    opt = optax.adam(lr)
    opt_state = opt.init(params)
    step = fn.make_train_step(model, loss, opt)
    eval_step = jax.jit(lambda p, x, t: loss(model.apply(p, state, x)[0], t))

    def valid_loss(params) -> float:
        n = len(valid_t) // BATCH * BATCH
        parts = [
            eval_step(params, valid_x[i : i + BATCH], valid_t[i : i + BATCH])
            for i in range(0, n, BATCH)
        ]
        return float(jnp.mean(jnp.stack(parts)))

    rows = [(0, float("nan"), valid_loss(params), 0.0)]
    print(f"epoch  0  train     -   valid {rows[0][2]:.3f}")
    rng, t0 = np.random.default_rng(1), time.perf_counter()
    for epoch in range(1, epochs + 1):
        x, t = cbow_examples(subsample(train_ids, counts, rng), window)
        order = rng.permutation(len(t))
        losses = []
        for i in range(0, len(t) - BATCH + 1, BATCH):
            picked = order[i : i + BATCH]
            batch = (x[picked], t[picked])
            params, state, opt_state, metrics = step(params, state, opt_state, batch, None)
            losses.append(metrics["loss"])
        train_loss, seconds = float(jnp.mean(jnp.stack(losses))), time.perf_counter() - t0
        rows.append((epoch, train_loss, valid_loss(params), seconds))
        print(
            f"epoch {epoch:2d}  train {train_loss:.3f}  valid {rows[-1][2]:.3f}  "
            f"({len(t):,} examples, {seconds:.0f} s)"
        )

    table = np.asarray(params[0].table)
    neighbours = {w: nearest(table, vocab, w, NEIGHBOURS) for w in QUERIES if w in vocab.index}
    for w, nn in neighbours.items():
        print(f"{w:>8}: " + ", ".join(f"{v} {s:.2f}" for v, s in nn))
    write_report(rows, neighbours, report, vocab, len(tokens), dim, window, lr)


def write_report(rows, neighbours, report, vocab, n_tokens, dim, window, lr) -> None:
    OUT.mkdir(exist_ok=True)
    lines = [
        "# word2vec CBOW on standard-library docstrings (manual gradients)",
        "",
        f"Corpus: {n_tokens:,} words of docstrings (`stdlib_docstrings()`), vocabulary "
        f"{len(vocab) - 1:,} words (count >= {MIN_COUNT}) plus `<unk>`. Model: embedding "
        f"({dim}-d) -> mean over {2 * window} context words -> dense -> full softmax "
        f"cross-entropy; Adam (lr {lr}), batch {BATCH}, frequent words subsampled "
        f"(t = {SUBSAMPLE_T}); every 10th block of 1,000 words is held out for validation. "
        "Train loss: the mean over the epoch's steps. Seconds: wall clock on a shared 2-core "
        "CPU. Produced by `python experiments/word2vec_cbow.py`.",
        "",
        "Gradient check before training (`verify_model` of the full model, float64, 16 "
        "examples; the finite-difference floor is set from the loss's measured rounding noise):",
        "",
        "```",
        report.details(),
        "```",
        "",
        "| epoch | train loss | validation loss | seconds |",
        "|---:|---:|---:|---:|",
        *(f"| {e} | {tr:.3f} | {va:.3f} | {s:.0f} |".replace("nan", "–") for e, tr, va, s in rows),
        "",
        f"Uniform guess: ln {len(vocab)} = {np.log(len(vocab)):.2f}.",
        "",
        "Cosine nearest neighbours of the input embeddings:",
        "",
        "| word | neighbours |",
        "|---|---|",
        *(
            f"| {w} | {', '.join(f'{v} ({s:.2f})' for v, s in nn)} |"
            for w, nn in neighbours.items()
        ),
        "",
    ]
    (OUT / "word2vec_cbow.md").write_text("\n".join(lines))
    plt = pyplot()
    if plt is None:
        return
    epochs = [r[0] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(epochs[1:], [r[1] for r in rows[1:]], marker="o", label="train")
    ax.plot(epochs, [r[2] for r in rows], marker="s", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_title("CBOW on stdlib docstrings")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "word2vec_cbow.png", dpi=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--window", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    main(args.epochs, args.dim, args.window, args.lr)
