#!/usr/bin/python3
"""Reference values for tests/cpp/test_attention.cpp, computed with PyTorch (1.13) in float64.

    /usr/bin/python3 tests/cpp/attention_reference.py          # prints the generated header
    /usr/bin/python3 tests/cpp/attention_reference.py --write  # rewrites attention_reference.h

Inputs are not random: det(shape, seed) fills a tensor with scale * sin(seed * 1.7 + i * 0.913)
+ offset (i the row-major index), which the C++ test computes the same way. Module parameters
are set in state-dict order: entry i gets det(shape, seed + i, 0.5). Bool masks are recorded as
0/1 values ("<case>.mask", ...) so the test rebuilds them exactly. Gradients are those of
sum(out * det(out.shape, 99)) + sum(weights * det(weights.shape, 98)) (the second term when the
weights are returned). State dict keys and shapes and the printed form of the modules are
recorded too.

PyTorch 1.13 has no F.scaled_dot_product_attention (added in 2.0): its cases use the formula
softmax(q k^T * scale (+ mask)) v in float64, with bool masks (true = attend) applied by
masked_fill(-inf), which is what 2.0's math path computes. MultiheadAttention and the
Transformer layers run with autograd on, so PyTorch takes its regular (not the fused "fast")
path.
"""
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nn_reference import cpp_double, cpp_string, det, leaf  # noqa: E402 (shared helpers)

torch.set_default_dtype(torch.float64)
refs = {}    # name -> (shape, flat values)
states = {}  # name -> [(key, shape)]
reprs = {}   # name -> printed form


def rec(name, t):
    refs[name] = (list(t.shape), [float(v) for v in t.detach().reshape(-1).tolist()])


def set_params(module, seed):
    with torch.no_grad():
        for i, (_, p) in enumerate(module.state_dict().items()):
            p.copy_(det(list(p.shape), seed + i, 0.5))


def backward_seeded(out, weights=None):
    loss = (out * det(list(out.shape), 99)).sum()
    if weights is not None:
        loss = loss + (weights * det(list(weights.shape), 98)).sum()
    loss.backward()


def rec_grads(case, inputs, module=None):
    for name, t in inputs.items():
        rec(f"{case}.grad.{name}", t.grad)
    if module is not None:
        for name, p in module.named_parameters():
            rec(f"{case}.grad.{name}", p.grad)


# ---------------------------------------------------------------- scaled_dot_product_attention
def sdpa_formula(q, k, v, mask=None, is_causal=False, scale=None):
    L, S = q.size(-2), k.size(-2)
    s = scale if scale is not None else 1.0 / math.sqrt(q.size(-1))
    scores = q @ k.transpose(-2, -1) * s
    if is_causal:
        mask = torch.ones(L, S, dtype=torch.bool).tril()
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    return torch.softmax(scores, dim=-1) @ v


def sdpa_case(case, q_shape, k_shape, v_shape, mask=None, grads=True, **kwargs):
    q, k, v = leaf(det(q_shape, 1)), leaf(det(k_shape, 2)), leaf(det(v_shape, 3))
    if mask is not None:
        rec(f"{case}.mask", mask.double())
    out = sdpa_formula(q, k, v, mask, **kwargs)
    rec(f"{case}.out", out)
    if grads:
        backward_seeded(out)
        rec_grads(case, {"q": q, "k": k, "v": v})


def sdpa():
    sdpa_case("sdpa.plain", [2, 2, 3, 4], [2, 2, 5, 4], [2, 2, 5, 3])
    keep = det([3, 5], 4) > -0.3
    keep[:, 0] = True  # no row fully masked
    sdpa_case("sdpa.bool_mask", [2, 2, 3, 4], [2, 2, 5, 4], [2, 2, 5, 3], mask=keep)
    sdpa_case("sdpa.float_mask", [2, 2, 3, 4], [2, 2, 5, 4], [2, 2, 5, 3],
              mask=det([2, 1, 3, 5], 5, 2.0))
    sdpa_case("sdpa.causal_square", [2, 4, 4], [2, 4, 4], [2, 4, 3], is_causal=True)
    sdpa_case("sdpa.causal_rect", [2, 3, 4], [2, 5, 4], [2, 5, 2], is_causal=True)
    sdpa_case("sdpa.scale_broadcast", [2, 3, 4], [5, 4], [5, 3], scale=0.3)
    full = torch.ones(3, 5, dtype=torch.bool)
    full[1] = False  # query 1 attends to nothing: NaN
    sdpa_case("sdpa.fully_masked", [2, 3, 4], [2, 5, 4], [2, 5, 3], mask=full, grads=False)


# ---------------------------------------------------------------- MultiheadAttention
def bool_mask(case, what, shape, seed, threshold=0.0, keep_column=None):
    m = det(shape, seed) > threshold
    if keep_column is not None:
        m[..., keep_column] = False  # never masked: no fully masked row
    rec(f"{case}.{what}", m.double())
    return m


def mha_case(case, mha, q, k=None, v=None, grads=True, **kwargs):
    """q/k/v are tensors; k/v None means self-attention on q (one leaf)."""
    set_params(mha, 200)
    inputs = {"q": leaf(q)}
    if k is not None:
        inputs["k"] = leaf(k)
        inputs["v"] = leaf(v)
        out, w = mha(inputs["q"], inputs["k"], inputs["v"], **kwargs)
    else:
        x = inputs["q"]
        out, w = mha(x, x, x, **kwargs)
    rec(f"{case}.out", out)
    if w is not None:
        rec(f"{case}.weights", w)
    if grads:
        backward_seeded(out, w)
        rec_grads(case, inputs, mha)


def mha():
    E, H, L, S, N = 8, 2, 3, 4, 2
    mha_case("mha.basic", nn.MultiheadAttention(E, H),
             det([L, N, E], 1), det([S, N, E], 2), det([S, N, E], 3))

    c = "mha.self_masks"
    kpm = bool_mask(c, "key_padding_mask", [N, L], 10, 0.3, keep_column=0)
    am = bool_mask(c, "attn_mask", [L, L], 11, 0.2, keep_column=0)
    mha_case(c, nn.MultiheadAttention(E, H), det([L, N, E], 4), key_padding_mask=kpm,
             attn_mask=am, average_attn_weights=False)

    c = "mha.float_masks"
    am = det([N * H, L, S], 12, 2.0)
    rec(f"{c}.attn_mask", am)
    kpm = bool_mask(c, "key_padding_mask", [N, S], 13, 0.3, keep_column=1)
    mha_case(c, nn.MultiheadAttention(E, H), det([L, N, E], 5), det([S, N, E], 6),
             det([S, N, E], 7), key_padding_mask=kpm, attn_mask=am)

    c = "mha.batch_first_kvdim"
    kpm = det([N, S], 14, 1.5)
    rec(f"{c}.key_padding_mask", kpm)
    mha_case(c, nn.MultiheadAttention(E, H, kdim=6, vdim=5, batch_first=True),
             det([N, L, E], 8), det([N, S, 6], 9), det([N, S, 5], 10), key_padding_mask=kpm)

    mha_case("mha.nobias_noweights", nn.MultiheadAttention(E, H, bias=False),
             det([L, N, E], 11), det([S, N, E], 12), det([S, N, E], 13), need_weights=False)

    c = "mha.unbatched_self"
    kpm = bool_mask(c, "key_padding_mask", [L], 15, 0.0, keep_column=2)
    am = bool_mask(c, "attn_mask", [H, L, L], 16, 0.3, keep_column=2)
    mha_case(c, nn.MultiheadAttention(E, H), det([L, E], 14), key_padding_mask=kpm, attn_mask=am)

    c = "mha.unbatched_2d_float"
    am = det([L, S], 17, 1.0)
    rec(f"{c}.attn_mask", am)
    mha_case(c, nn.MultiheadAttention(E, H, batch_first=True), det([L, E], 15), det([S, E], 16),
             det([S, E], 17), attn_mask=am, average_attn_weights=False)

    c = "mha.bias_kv_zero_attn"
    kpm = bool_mask(c, "key_padding_mask", [N, S], 18, 0.2)
    am = bool_mask(c, "attn_mask", [L, S], 19, 0.2)
    mha_case(c, nn.MultiheadAttention(E, H, add_bias_kv=True, add_zero_attn=True),
             det([L, N, E], 18), det([S, N, E], 19), det([S, N, E], 20),
             key_padding_mask=kpm, attn_mask=am)

    c = "mha.causal"  # generate_square_subsequent_mask; the C++ side also passes is_causal
    mha_case(c, nn.MultiheadAttention(E, H, batch_first=True), det([N, L, E], 21),
             attn_mask=nn.Transformer.generate_square_subsequent_mask(L))

    c = "mha.fully_masked"  # batch 1 has every key padded: its outputs and weights are NaN
    kpm = torch.zeros(N, S, dtype=torch.bool)
    kpm[1] = True
    rec(f"{c}.key_padding_mask", kpm.double())
    mha_case(c, nn.MultiheadAttention(E, H), det([L, N, E], 22), det([S, N, E], 23),
             det([S, N, E], 24), grads=False, key_padding_mask=kpm)


# ---------------------------------------------------------------- Transformer encoder
def encoder_case(case, module, src, **kwargs):
    set_params(module, 300)
    module.eval()
    x = leaf(src)
    out = module(x, **kwargs)
    rec(f"{case}.out", out)
    backward_seeded(out)
    rec_grads(case, {"src": x}, module)


def transformer():
    d, H, ff, L, N = 8, 2, 16, 3, 2
    c = "tel.post_relu"
    am = bool_mask(c, "src_mask", [L, L], 30, 0.2, keep_column=0)
    kpm = bool_mask(c, "src_key_padding_mask", [N, L], 31, 0.4, keep_column=0)
    encoder_case(c, nn.TransformerEncoderLayer(d, H, ff), det([L, N, d], 40),
                 src_mask=am, src_key_padding_mask=kpm)

    c = "tel.pre_gelu_batch_first"
    encoder_case(c, nn.TransformerEncoderLayer(d, H, ff, activation="gelu", batch_first=True,
                                               norm_first=True, layer_norm_eps=1e-6),
                 det([N, L, d], 41), src_mask=nn.Transformer.generate_square_subsequent_mask(L))

    c = "tenc.two_layers_norm"
    kpm = bool_mask(c, "src_key_padding_mask", [N, L], 32, 0.4, keep_column=0)
    layer = nn.TransformerEncoderLayer(d, H, ff)
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(d), enable_nested_tensor=False)
    encoder_case(c, enc, det([L, N, d], 42), src_key_padding_mask=kpm)


def decoder_case(case, module, tgt, memory, **kwargs):
    set_params(module, 400)
    module.eval()
    t, m = leaf(tgt), leaf(memory)
    out = module(t, m, **kwargs)
    rec(f"{case}.out", out)
    backward_seeded(out)
    rec_grads(case, {"tgt": t, "memory": m}, module)


def decoder():
    d, H, ff, T, S, N = 8, 2, 16, 3, 4, 2
    causal = nn.Transformer.generate_square_subsequent_mask(T)
    c = "tdl.post_relu"
    tkpm = bool_mask(c, "tgt_key_padding_mask", [N, T], 50, 0.3, keep_column=0)
    mkpm = bool_mask(c, "memory_key_padding_mask", [N, S], 51, 0.3, keep_column=1)
    decoder_case(c, nn.TransformerDecoderLayer(d, H, ff), det([T, N, d], 60), det([S, N, d], 61),
                 tgt_mask=causal, tgt_key_padding_mask=tkpm, memory_key_padding_mask=mkpm)

    c = "tdl.pre_gelu_batch_first"
    mm = bool_mask(c, "memory_mask", [T, S], 52, 0.2, keep_column=0)
    decoder_case(c, nn.TransformerDecoderLayer(d, H, ff, activation="gelu", batch_first=True,
                                               norm_first=True),
                 det([N, T, d], 62), det([N, S, d], 63), memory_mask=mm)

    c = "tdec.two_layers_norm"
    mkpm = bool_mask(c, "memory_key_padding_mask", [N, S], 53, 0.3, keep_column=2)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, H, ff), 2, norm=nn.LayerNorm(d))
    decoder_case(c, dec, det([T, N, d], 64), det([S, N, d], 65), tgt_mask=causal,
                 memory_key_padding_mask=mkpm)


def full_transformer():
    d, H, ff, S, T, N = 8, 2, 16, 4, 3, 2
    causal = nn.Transformer.generate_square_subsequent_mask(T)
    c = "transformer.post_relu"
    skpm = bool_mask(c, "src_key_padding_mask", [N, S], 70, 0.3, keep_column=0)
    model = nn.Transformer(d, H, 1, 2, ff)
    set_params(model, 500)
    model.eval()
    src, tgt = leaf(det([S, N, d], 80)), leaf(det([T, N, d], 81))
    out = model(src, tgt, tgt_mask=causal, src_key_padding_mask=skpm,
                memory_key_padding_mask=skpm)
    rec(f"{c}.out", out)
    backward_seeded(out)
    rec_grads(c, {"src": src, "tgt": tgt}, model)

    c = "transformer.pre_gelu_batch_first"
    model = nn.Transformer(d, H, 2, 1, ff, activation="gelu", batch_first=True, norm_first=True)
    set_params(model, 600)
    model.eval()
    src, tgt = leaf(det([N, S, d], 82)), leaf(det([N, T, d], 83))
    out = model(src, tgt, tgt_mask=causal)
    rec(f"{c}.out", out)
    backward_seeded(out)
    rec_grads(c, {"src": src, "tgt": tgt}, model)


# ---------------------------------------------------------------- state dicts
def state_dicts():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    ms = {
        "mha": nn.MultiheadAttention(8, 2),
        "mha_kvdim": nn.MultiheadAttention(8, 2, kdim=6, vdim=5),
        "mha_nobias": nn.MultiheadAttention(8, 2, bias=False),
        "mha_bias_kv": nn.MultiheadAttention(8, 2, add_bias_kv=True),
        "encoder_layer": layer,
        "encoder_norm": nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8)),
        "decoder_layer": nn.TransformerDecoderLayer(8, 2, 16),
        "decoder_norm": nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 2,
                                              norm=nn.LayerNorm(8)),
        "transformer": nn.Transformer(8, 2, 1, 2, 16),
    }
    for name, m in ms.items():
        states[name] = [(k, list(v.shape)) for k, v in m.state_dict().items()]
        reprs[name] = repr(m)


# ---------------------------------------------------------------- output
def cpp_shape(s):
    return "{" + ", ".join(str(d) for d in s) + "}"


def generate():
    sdpa()
    mha()
    transformer()
    decoder()
    full_transformer()
    state_dicts()
    lines = [
        f"// Generated by tests/cpp/attention_reference.py (PyTorch {torch.__version__}, float64)."
        " Do not edit:",
        "// regenerate with /usr/bin/python3 tests/cpp/attention_reference.py --write",
        "#pragma once",
        "#include <limits>",
        "#include <map>",
        "#include <string>",
        "#include <utility>",
        "#include <vector>",
        "",
        '#include "core/types.h"',
        "",
        "namespace attention_reference {",
        "",
        "struct Value {",
        "  tg::Shape shape;",
        "  std::vector<double> values;",
        "};",
        "",
        "// clang-format off",
        "inline const std::map<std::string, Value>& Values() {",
        "  constexpr double kInf = std::numeric_limits<double>::infinity();",
        "  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();",
        "  static const std::map<std::string, Value> refs = {",
    ]
    for name, (shape, vals) in refs.items():
        body = ", ".join(cpp_double(v) for v in vals)
        lines.append(f"      {{{cpp_string(name)}, {{{cpp_shape(shape)}, {{{body}}}}}}},")
    lines += ["  };", "  (void)kInf;", "  (void)kNaN;", "  return refs;", "}", ""]
    lines.append("inline const std::map<std::string, std::vector<std::pair<std::string, tg::Shape>>>& "
                 "StateDicts() {")
    lines.append("  static const std::map<std::string, std::vector<std::pair<std::string, tg::Shape>>> "
                 "refs = {")
    for name, entries in states.items():
        body = ", ".join(f"{{{cpp_string(k)}, {cpp_shape(s)}}}" for k, s in entries)
        lines.append(f"      {{{cpp_string(name)}, {{{body}}}}},")
    lines += ["  };", "  return refs;", "}", ""]
    lines.append("inline const std::map<std::string, std::string>& Reprs() {")
    lines.append("  static const std::map<std::string, std::string> refs = {")
    for name, r in reprs.items():
        lines.append(f"      {{{cpp_string(name)}, {cpp_string(r)}}},")
    lines += ["  };", "  return refs;", "}", "// clang-format on", "", "}  // namespace attention_reference"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    header = generate()
    if "--write" in sys.argv:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention_reference.h")
        with open(path, "w") as f:
            f.write(header)
        print(f"wrote {len(refs)} value sets, {len(states)} state dicts and reprs to {path}")
    else:
        sys.stdout.write(header)
