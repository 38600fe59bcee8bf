#include "attention.h"

#include <cmath>
#include <limits>

#include "init.h"

namespace tg::nn {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  for (size_t i = 1; i <= from.size(); ++i) {
    const int64_t f = from[from.size() - i];
    if (f != 1 && f != to[to.size() - i]) return false;
  }
  return true;
}

void check_input(const char* op, const char* what, const Tensor& t) {
  TG_CHECK(t.defined(), Value, op, ": ", what, " is undefined");
  TG_CHECK(t.is_floating_point(), Type, op, ": expected a floating-point ", what, ", got ",
           t.dtype(), " (shape ", t.sizes(), ")");
}

// q, k, v: float tensors of one dtype on one device.
void check_qkv(const char* op, const Tensor& q, const Tensor& k, const Tensor& v) {
  check_input(op, "query", q);
  check_input(op, "key", k);
  check_input(op, "value", v);
  TG_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), Type, op,
           ": query, key and value must have the same dtype, got ", q.dtype(), ", ", k.dtype(),
           " and ", v.dtype());
  TG_CHECK(q.device() == k.device() && q.device() == v.device(), Runtime, op,
           ": query, key and value must be on the same device, got ", q.device(), ", ",
           k.device(), " and ", v.device());
}

// A mask must be bool or the query's floating dtype, on its device.
void check_mask_type(const char* op, const char* what, const Tensor& mask, const Tensor& query) {
  TG_CHECK(mask.dtype() == kBool || mask.dtype() == query.dtype(), Type, op, ": ", what,
           " must be bool or ", query.dtype(), " (the query's dtype), got ", mask.dtype());
  TG_CHECK(mask.device() == query.device(), Runtime, op, ": ", what, " is on ", mask.device(),
           " but the query is on ", query.device());
}

// Bool [L, S], true where key j <= query i (top-left aligned, as PyTorch's is_causal).
Tensor causal_keep_mask(int64_t L, int64_t S, Device device) {
  const TensorOptions idx = TensorOptions(kInt64).device(device);
  return tg::le(tg::arange(static_cast<double>(S), idx).unsqueeze(0),
                tg::arange(static_cast<double>(L), idx).unsqueeze(1));
}

// What a set of masks amounts to: entries to keep (bool, true = may attend) and scores to add.
struct MaskParts {
  Tensor keep, additive;
  // A mask in MultiheadAttention's convention: bool true = may not attend; float = added.
  void add_masked_convention(const Tensor& mask) {
    if (mask.dtype() == kBool) {
      add_keep(tg::logical_not(mask));
    } else {
      additive = additive.defined() ? tg::add(additive, mask) : mask;
    }
  }
  void add_keep(const Tensor& k) { keep = keep.defined() ? tg::logical_and(keep, k) : k; }
};

// weights = softmax(q k^T * scale + additive) over the kept keys, then dropout; returns
// (weights @ v, weights).
std::tuple<Tensor, Tensor> attend(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const MaskParts& masks, double scale, double dropout_p,
                                  bool training) {
  Tensor scores = tg::matmul(tg::mul(q, scale), tg::transpose(k, -2, -1));
  if (masks.additive.defined()) scores = tg::add(scores, masks.additive);
  Tensor weights = masks.keep.defined() ? tg::masked_softmax(scores, masks.keep, -1)
                                        : tg::softmax(scores, -1);
  if (training && dropout_p > 0.0) weights = functional::dropout(weights, dropout_p, true);
  return {tg::matmul(weights, v), weights};
}

// Appends `extra` columns to a mask that leave those keys attended (false / 0).
Tensor pad_mask_columns(const Tensor& mask, int64_t extra) {
  if (extra == 0) return mask;
  Shape shape = mask.sizes();
  shape.back() = extra;
  return tg::cat({mask, tg::zeros(shape, TensorOptions(mask.dtype()).device(mask.device()))}, -1);
}

// [T, N, E] (or [N, T, E] when batch_first) -> [N, H, T, E / H].
Tensor split_heads(const Tensor& x, int64_t num_heads, bool batch_first) {
  const int64_t head_dim = x.size(2) / num_heads;
  if (batch_first)
    return tg::permute(tg::reshape(x, {x.size(0), x.size(1), num_heads, head_dim}), {0, 2, 1, 3});
  return tg::permute(tg::reshape(x, {x.size(0), x.size(1), num_heads, head_dim}), {1, 2, 0, 3});
}

std::tuple<Tensor, Tensor> mha_forward(const char* op, Tensor query, Tensor key, Tensor value,
                                       int64_t embed_dim_to_check, int64_t num_heads,
                                       const Tensor& in_proj_weight, const Tensor& in_proj_bias,
                                       const Tensor& bias_k, const Tensor& bias_v,
                                       bool add_zero_attn, double dropout_p,
                                       const Tensor& out_proj_weight, const Tensor& out_proj_bias,
                                       const functional::MultiheadAttentionForwardOptions& o) {
  check_qkv(op, query, key, value);
  TG_CHECK(query.dim() == 2 || query.dim() == 3, Value, op,
           ": query should be an unbatched 2-D or batched 3-D tensor, got shape ", query.sizes());
  const bool batched = query.dim() == 3;
  TG_CHECK(key.dim() == query.dim() && value.dim() == query.dim(), Value, op, ": expected key and value ",
           query.dim(), "-D like the ", batched ? "batched" : "unbatched", " query of shape ",
           query.sizes(), ", got key ", key.sizes(), " and value ", value.sizes());
  const Tensor& kpm_in = o.key_padding_mask;
  const Tensor& mask_in = o.attn_mask;
  if (kpm_in.defined()) {
    check_mask_type(op, "key_padding_mask", kpm_in, query);
    TG_CHECK(kpm_in.dim() == query.dim() - 1, Value, op, ": expected a ", query.dim() - 1,
             "-D key_padding_mask for a ", batched ? "batched" : "unbatched", " query, got shape ",
             kpm_in.sizes());
  }
  if (mask_in.defined()) {
    check_mask_type(op, "attn_mask", mask_in, query);
    TG_CHECK(mask_in.dim() == 2 || mask_in.dim() == 3, Value, op,
             ": attn_mask must be 2-D [L, S] or 3-D [N * num_heads, L, S], got shape ",
             mask_in.sizes());
  }
  TG_CHECK(!o.is_causal || mask_in.defined(), Value, op,
           ": is_causal is a hint that attn_mask is the causal mask, so attn_mask is needed too "
           "(e.g. generate_square_subsequent_mask(L))");
  TG_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, Value, op,
           ": dropout probability has to be between 0 and 1, but got ", dropout_p);
  TG_CHECK(out_proj_weight.defined(), Value, op, ": out_proj_weight is undefined");
  TG_CHECK(query.dtype() == out_proj_weight.dtype(), Type, op, ": query dtype ", query.dtype(),
           " does not match the parameters' ", out_proj_weight.dtype(), " (convert one with .to())");

  const bool self_attention = query.is_same(key) && key.is_same(value);
  const int64_t bdim = o.batch_first ? 0 : 1, sdim = 1 - bdim;
  Tensor kpm = kpm_in;
  if (!batched) {
    query = tg::unsqueeze(query, bdim);
    key = tg::unsqueeze(key, bdim);
    value = tg::unsqueeze(value, bdim);
    if (kpm.defined()) kpm = tg::unsqueeze(kpm, 0);
  }
  const int64_t N = query.size(bdim), L = query.size(sdim), E = query.size(2);
  const int64_t S = key.size(sdim);
  TG_CHECK(E == embed_dim_to_check, Value, op, ": expected query with embed_dim ",
           embed_dim_to_check, " features (last dim), got shape ", query.sizes());
  TG_CHECK(num_heads > 0, Value, op, ": num_heads must be > 0, got ", num_heads);
  TG_CHECK(E % num_heads == 0, Value, op, ": embed_dim ", E, " is not divisible by num_heads ",
           num_heads);
  TG_CHECK(out_proj_weight.sizes() == (Shape{E, E}), Value, op, ": out_proj_weight must have shape ",
           Shape{E, E}, ", got ", out_proj_weight.sizes());
  TG_CHECK(key.size(bdim) == N && value.size(bdim) == N, Value, op,
           ": query, key and value must have the same batch size, got shapes ", query.sizes(),
           ", ", key.sizes(), " and ", value.sizes());
  TG_CHECK(value.size(sdim) == S, Value, op,
           ": key and value must have the same sequence length, got key ", key.sizes(),
           " and value ", value.sizes());

  // ---- input projections
  auto rows = [](const Tensor& t, int64_t i, int64_t E) {
    return t.defined() ? tg::slice(t, 0, i * E, (i + 1) * E) : Tensor();
  };
  if (in_proj_bias.defined())
    TG_CHECK(in_proj_bias.dim() == 1 && in_proj_bias.size(0) == 3 * E, Value, op,
             ": in_proj_bias must have shape [", 3 * E, "], got ", in_proj_bias.sizes());
  Tensor q, k, v;
  if (!o.use_separate_proj_weight) {
    TG_CHECK(in_proj_weight.defined(), Value, op,
             ": in_proj_weight is undefined (use_separate_proj_weight is false)");
    TG_CHECK(in_proj_weight.sizes() == (Shape{3 * E, E}), Value, op,
             ": in_proj_weight must have shape [", 3 * E, ", ", E, "], got ",
             in_proj_weight.sizes());
    TG_CHECK(key.size(2) == E && value.size(2) == E, Value, op,
             ": key and value must have embed_dim ", E,
             " features (last dim) with a packed in_proj_weight (kdim/vdim give other sizes), got key ",
             key.sizes(), " and value ", value.sizes());
    if (self_attention) {  // one product for q, k and v
      auto qkv = tg::chunk(functional::linear(query, in_proj_weight, in_proj_bias), 3, -1);
      q = qkv[0], k = qkv[1], v = qkv[2];
    } else {
      q = functional::linear(query, rows(in_proj_weight, 0, E), rows(in_proj_bias, 0, E));
      k = functional::linear(key, rows(in_proj_weight, 1, E), rows(in_proj_bias, 1, E));
      v = functional::linear(value, rows(in_proj_weight, 2, E), rows(in_proj_bias, 2, E));
    }
  } else {
    const std::pair<const char*, const Tensor*> weights[] = {
        {"q_proj_weight", &o.q_proj_weight},
        {"k_proj_weight", &o.k_proj_weight},
        {"v_proj_weight", &o.v_proj_weight}};
    const Tensor* inputs[] = {&query, &key, &value};
    for (int i = 0; i < 3; ++i) {
      const auto& [name, w] = weights[i];
      TG_CHECK(w->defined(), Value, op, ": ", name,
               " is undefined (use_separate_proj_weight is true)");
      TG_CHECK(w->dim() == 2 && w->size(0) == E, Value, op, ": ", name, " must have shape [", E,
               ", features], got ", w->sizes());
      TG_CHECK(inputs[i]->size(2) == w->size(1), Value, op, ": ", i == 0 ? "query" : i == 1 ? "key" : "value",
               " of shape ", inputs[i]->sizes(), " does not have the ", w->size(1),
               " features (last dim) that ", name, " of shape ", w->sizes(), " expects (",
               i == 0 ? "embed_dim" : i == 1 ? "kdim" : "vdim", ")");
    }
    q = functional::linear(query, o.q_proj_weight, rows(in_proj_bias, 0, E));
    k = functional::linear(key, o.k_proj_weight, rows(in_proj_bias, 1, E));
    v = functional::linear(value, o.v_proj_weight, rows(in_proj_bias, 2, E));
  }

  // ---- extra keys: bias_k / bias_v, then a zero key
  TG_CHECK(bias_k.defined() == bias_v.defined(), Value, op,
           ": bias_k and bias_v must be given together");
  if (bias_k.defined()) {
    for (const Tensor* b : {&bias_k, &bias_v})
      TG_CHECK(b->sizes() == (Shape{1, 1, E}), Value, op, ": bias_k and bias_v must have shape [1, 1, ",
               E, "], got ", b->sizes());
    Shape one_step = o.batch_first ? Shape{N, 1, E} : Shape{1, N, E};
    k = tg::cat({k, tg::expand(bias_k, one_step)}, sdim);
    v = tg::cat({v, tg::expand(bias_v, one_step)}, sdim);
  }
  q = split_heads(q, num_heads, o.batch_first);
  k = split_heads(k, num_heads, o.batch_first);
  v = split_heads(v, num_heads, o.batch_first);
  const int64_t head_dim = E / num_heads;
  if (add_zero_attn) {
    const Shape zero_key{N, num_heads, 1, head_dim};
    k = tg::cat({k, tg::zeros(zero_key, TensorOptions(k.dtype()).device(k.device()))}, 2);
    v = tg::cat({v, tg::zeros(zero_key, TensorOptions(v.dtype()).device(v.device()))}, 2);
  }
  const int64_t extra_keys = k.size(2) - S;

  // ---- masks, as [.., L, S] pieces that broadcast to the weights [N, H, L, S]
  MaskParts masks;
  if (mask_in.defined()) {
    Tensor m = mask_in;
    if (m.dim() == 2) {
      TG_CHECK(m.sizes() == (Shape{L, S}), Value, op, ": the shape of the 2-D attn_mask is ",
               m.sizes(), ", but should be ", Shape{L, S}, " [L, S]");
    } else {
      TG_CHECK(m.sizes() == (Shape{N * num_heads, L, S}), Value, op,
               ": the shape of the 3-D attn_mask is ", m.sizes(), ", but should be ",
               Shape{N * num_heads, L, S}, " [N * num_heads, L, S]");
      m = tg::reshape(m, {N, num_heads, L, S});
    }
    masks.add_masked_convention(pad_mask_columns(m, extra_keys));
  }
  if (kpm.defined()) {
    TG_CHECK(kpm.sizes() == (Shape{N, S}), Value, op, ": expected key_padding_mask of shape ",
             batched ? Shape{N, S} : Shape{S}, ", got ", kpm_in.sizes());
    masks.add_masked_convention(pad_mask_columns(tg::reshape(kpm, {N, 1, 1, S}), extra_keys));
  }

  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  auto [attn, weights] = attend(q, k, v, masks, scale, dropout_p, o.training);

  // ---- merge the heads, output projection
  attn = o.batch_first ? tg::reshape(tg::permute(attn, {0, 2, 1, 3}), {N, L, E})
                       : tg::reshape(tg::permute(attn, {2, 0, 1, 3}), {L, N, E});
  Tensor out = functional::linear(attn, out_proj_weight, out_proj_bias);
  if (!batched) out = tg::squeeze(out, bdim);
  if (!o.need_weights) return {out, Tensor()};
  if (o.average_attn_weights) weights = tg::mean(weights, {1});
  if (!batched) weights = tg::squeeze(weights, 0);
  return {out, weights};
}

}  // namespace

// ---------------------------------------------------------------- functional

namespace functional {

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale) {
  const char* op = "scaled_dot_product_attention";
  check_qkv(op, query, key, value);
  TG_CHECK(query.dim() >= 2 && key.dim() >= 2 && value.dim() >= 2, Value, op,
           ": expected query [..., L, E], key [..., S, E] and value [..., S, Ev], got shapes ",
           query.sizes(), ", ", key.sizes(), " and ", value.sizes());
  const int64_t L = query.size(-2), S = key.size(-2), E = query.size(-1);
  TG_CHECK(key.size(-1) == E, Value, op, ": query and key must have the same last dim (E), got query ",
           query.sizes(), " and key ", key.sizes());
  TG_CHECK(value.size(-2) == S, Value, op,
           ": key and value must have the same sequence length (dim -2), got key ", key.sizes(),
           " and value ", value.sizes());
  TG_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, Value, op,
           ": dropout_p has to be between 0 and 1, but got ", dropout_p);
  auto batch_of = [](const Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end() - 2); };
  Shape weights_shape;
  try {
    weights_shape = broadcast_shapes(
        op, broadcast_shapes(op, batch_of(query), batch_of(key)), batch_of(value));
  } catch (const Error&) {
    TG_FAIL(Value, op, ": the batch dims of query ", query.sizes(), ", key ", key.sizes(),
            " and value ", value.sizes(), " cannot be broadcast together");
  }
  weights_shape.insert(weights_shape.end(), {L, S});

  MaskParts masks;
  if (is_causal) {
    TG_CHECK(!attn_mask.defined(), Value, op,
             ": attn_mask must not be given with is_causal=true (the causal mask is built)");
    masks.keep = causal_keep_mask(L, S, query.device());
  }
  if (attn_mask.defined()) {
    check_mask_type(op, "attn_mask", attn_mask, query);
    TG_CHECK(broadcasts_to(attn_mask.sizes(), weights_shape), Value, op, ": attn_mask of shape ",
             attn_mask.sizes(), " cannot be broadcast to the attention weights' shape ",
             weights_shape, " [..., L, S]");
    if (attn_mask.dtype() == kBool)
      masks.keep = attn_mask;  // true = attend
    else
      masks.additive = attn_mask;
  }
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(E)));
  return std::get<0>(attend(query, key, value, masks, s, dropout_p, true));
}

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const ScaledDotProductAttentionOptions& options) {
  return scaled_dot_product_attention(query, key, value, options.attn_mask, options.dropout_p,
                                      options.is_causal, options.scale);
}

std::tuple<Tensor, Tensor> multi_head_attention_forward(
    const Tensor& query, const Tensor& key, const Tensor& value, int64_t embed_dim_to_check,
    int64_t num_heads, const Tensor& in_proj_weight, const Tensor& in_proj_bias,
    const Tensor& bias_k, const Tensor& bias_v, bool add_zero_attn, double dropout_p,
    const Tensor& out_proj_weight, const Tensor& out_proj_bias,
    const MultiheadAttentionForwardOptions& options) {
  return mha_forward("multi_head_attention_forward", query, key, value, embed_dim_to_check,
                     num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                     dropout_p, out_proj_weight, out_proj_bias, options);
}

}  // namespace functional

// ---------------------------------------------------------------- masks

Tensor generate_square_subsequent_mask(int64_t sz, TensorOptions options) {
  TG_CHECK(sz >= 0, Value, "generate_square_subsequent_mask: sz must be >= 0, got ", sz);
  TG_CHECK(is_floating(options.dtype_), Type,
           "generate_square_subsequent_mask: expected a floating-point dtype, got ", options.dtype_);
  options = options.requires_grad(false);
  Tensor future = tg::logical_not(causal_keep_mask(sz, sz, options.device_));
  return tg::where(future, tg::full({}, kNegInf, options), tg::zeros({sz, sz}, options));
}

// ---------------------------------------------------------------- MultiheadAttention

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout,
                                       bool bias, bool add_bias_kv, bool add_zero_attn,
                                       std::optional<int64_t> kdim, std::optional<int64_t> vdim,
                                       bool batch_first, TensorOptions options)
    : Module("MultiheadAttention"),
      embed_dim(embed_dim),
      kdim(kdim.value_or(embed_dim)),
      vdim(vdim.value_or(embed_dim)),
      num_heads(num_heads),
      head_dim(0),
      dropout(dropout),
      batch_first(batch_first),
      add_zero_attn(add_zero_attn) {
  TG_CHECK(embed_dim > 0 && num_heads > 0, Value,
           "MultiheadAttention: embed_dim and num_heads must be > 0, got ", embed_dim, " and ",
           num_heads);
  TG_CHECK(embed_dim % num_heads == 0, Value, "MultiheadAttention: embed_dim (", embed_dim,
           ") must be divisible by num_heads (", num_heads, ")");
  TG_CHECK(this->kdim > 0 && this->vdim > 0, Value,
           "MultiheadAttention: kdim and vdim must be > 0, got ", this->kdim, " and ", this->vdim);
  TG_CHECK(dropout >= 0.0 && dropout <= 1.0, Value,
           "MultiheadAttention: dropout probability has to be between 0 and 1, but got ", dropout);
  TG_CHECK(is_floating(options.dtype_), Type,
           "MultiheadAttention: parameters must be floating-point, got ", options.dtype_);
  options = options.requires_grad(false);
  head_dim = embed_dim / num_heads;
  const int64_t E = embed_dim;
  if (this->kdim == E && this->vdim == E) {
    in_proj_weight = register_parameter("in_proj_weight", tg::empty({3 * E, E}, options));
  } else {
    q_proj_weight = register_parameter("q_proj_weight", tg::empty({E, E}, options));
    k_proj_weight = register_parameter("k_proj_weight", tg::empty({E, this->kdim}, options));
    v_proj_weight = register_parameter("v_proj_weight", tg::empty({E, this->vdim}, options));
  }
  in_proj_bias = register_parameter("in_proj_bias", bias ? tg::empty({3 * E}, options) : Tensor());
  out_proj = register_module(
      "out_proj", std::make_shared<NonDynamicallyQuantizableLinear>(E, E, bias, options));
  if (add_bias_kv) {
    bias_k = register_parameter("bias_k", tg::empty({1, 1, E}, options));
    bias_v = register_parameter("bias_v", tg::empty({1, 1, E}, options));
  }
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  for (const Tensor& w : {in_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight})
    if (w.defined()) init::xavier_uniform_(w);
  if (in_proj_bias.defined()) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj->bias);
  }
  if (bias_k.defined()) init::xavier_normal_(bias_k);
  if (bias_v.defined()) init::xavier_normal_(bias_v);
}

std::tuple<Tensor, Tensor> MultiheadAttention::forward(const Tensor& query, const Tensor& key,
                                                       const Tensor& value,
                                                       const Tensor& key_padding_mask,
                                                       bool need_weights, const Tensor& attn_mask,
                                                       bool average_attn_weights, bool is_causal) {
  const functional::MultiheadAttentionForwardOptions o{
      .training = is_training(),
      .key_padding_mask = key_padding_mask,
      .need_weights = need_weights,
      .attn_mask = attn_mask,
      .use_separate_proj_weight = !in_proj_weight.defined(),
      .q_proj_weight = q_proj_weight,
      .k_proj_weight = k_proj_weight,
      .v_proj_weight = v_proj_weight,
      .average_attn_weights = average_attn_weights,
      .is_causal = is_causal,
      .batch_first = batch_first};
  return mha_forward("MultiheadAttention", query, key, value, embed_dim, num_heads, in_proj_weight,
                     in_proj_bias, bias_k, bias_v, add_zero_attn, dropout, out_proj->weight,
                     out_proj->bias, o);
}

// ---------------------------------------------------------------- Transformer layers

TransformerActivation::TransformerActivation(std::string name_) : name(std::move(name_)) {
  if (name == "relu")
    fn = [](const Tensor& x) { return functional::relu(x); };
  else if (name == "gelu")
    fn = [](const Tensor& x) { return functional::gelu(x); };
  else
    TG_FAIL(Value, "Transformer layer: activation should be \"relu\" or \"gelu\", not \"", name,
            "\"");
}

namespace {

// The pieces both layer kinds share, registered in PyTorch's order by the callers.
std::shared_ptr<MultiheadAttention> make_attention(int64_t d_model, int64_t nhead, double dropout,
                                                   bool batch_first, TensorOptions options) {
  return std::make_shared<MultiheadAttention>(d_model, nhead, dropout, true, false, false,
                                              std::nullopt, std::nullopt, batch_first, options);
}
std::shared_ptr<LayerNorm> make_norm(int64_t d_model, double eps, TensorOptions options) {
  return std::make_shared<LayerNorm>(Shape{d_model}, eps, true, options);
}

// linear2(dropout(activation(linear1(x)))), then the block's own dropout.
template <class Layer>
Tensor feed_forward_block(Layer& l, const Tensor& x, Dropout& block_dropout) {
  Tensor h = l.dropout->forward(l.activation.fn(l.linear1->forward(x)));
  return block_dropout.forward(l.linear2->forward(h));
}

// A new layer of the same configuration on the same device and dtype, holding copies of `l`'s
// values (copy.deepcopy).
template <class Layer>
std::shared_ptr<Layer> make_layer(const TransformerLayerConfig& c, TensorOptions options) {
  return std::make_shared<Layer>(c.d_model, c.nhead, c.dim_feedforward, c.dropout_p, c.activation,
                                 c.layer_norm_eps, c.batch_first, c.norm_first, options);
}

template <class Layer>
std::shared_ptr<Layer> deep_copy(const Layer& l) {
  const Tensor& w = l.linear1->weight;
  auto copy = make_layer<Layer>(l, TensorOptions(w.dtype()).device(w.device()));
  copy->load_state_dict(l.state_dict());
  copy->train(l.is_training());
  return copy;
}

// The layers of an encoder/decoder stack: num_layers deep copies of `layer`.
template <class Layer>
std::shared_ptr<ModuleList> cloned_layers(const char* owner, const std::shared_ptr<Layer>& layer,
                                          int64_t num_layers) {
  TG_CHECK(layer != nullptr, Value, owner, ": the layer to copy is null");
  TG_CHECK(num_layers >= 0, Value, owner, ": num_layers must be >= 0, got ", num_layers);
  auto list = std::make_shared<ModuleList>();
  for (int64_t i = 0; i < num_layers; ++i) list->push_back(layer->clone());
  return list;
}

template <class Layer>
std::shared_ptr<Layer> layer_at(const char* owner, const ModuleList& layers, size_t i) {
  auto layer = std::dynamic_pointer_cast<Layer>(layers[i]);
  TG_CHECK(layer != nullptr, Value, owner, ": layers.", i, " is a ", layers[i]->type_name(),
           ", not the layer type this stack runs");
  return layer;
}

}  // namespace

// ---------------------------------------------------------------- TransformerEncoderLayer

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model, int64_t nhead,
                                                 int64_t dim_feedforward, double dropout,
                                                 TransformerActivation activation,
                                                 double layer_norm_eps, bool batch_first,
                                                 bool norm_first, TensorOptions options)
    : Module("TransformerEncoderLayer"),
      TransformerLayerConfig{d_model, nhead, dim_feedforward, dropout, layer_norm_eps, batch_first,
                             norm_first, std::move(activation)} {
  TG_CHECK(this->activation.fn != nullptr, Value,
           "TransformerEncoderLayer: the activation function is empty");
  self_attn = register_module("self_attn", make_attention(d_model, nhead, dropout, batch_first, options));
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, dim_feedforward, true, options));
  this->dropout = register_module("dropout", std::make_shared<Dropout>(dropout));
  linear2 = register_module("linear2", std::make_shared<Linear>(dim_feedforward, d_model, true, options));
  norm1 = register_module("norm1", make_norm(d_model, layer_norm_eps, options));
  norm2 = register_module("norm2", make_norm(d_model, layer_norm_eps, options));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(dropout));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src) { return forward(src, Tensor()); }

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                        const Tensor& src_key_padding_mask, bool is_causal) {
  auto self_attention_block = [&](const Tensor& x) {
    Tensor attn = std::get<0>(self_attn->forward(x, x, x, src_key_padding_mask, false, src_mask,
                                                 true, is_causal));
    return dropout1->forward(attn);
  };
  Tensor x = src;
  if (norm_first) {
    x = tg::add(x, self_attention_block(norm1->forward(x)));
    x = tg::add(x, feed_forward_block(*this, norm2->forward(x), *dropout2));
  } else {
    x = norm1->forward(tg::add(x, self_attention_block(x)));
    x = norm2->forward(tg::add(x, feed_forward_block(*this, x, *dropout2)));
  }
  return x;
}

std::shared_ptr<TransformerEncoderLayer> TransformerEncoderLayer::clone() const {
  return deep_copy(*this);
}

// ---------------------------------------------------------------- TransformerEncoder

TransformerEncoder::TransformerEncoder(const std::shared_ptr<TransformerEncoderLayer>& encoder_layer,
                                       int64_t num_layers, std::shared_ptr<LayerNorm> norm)
    : Module("TransformerEncoder"), num_layers(num_layers), norm(std::move(norm)) {
  layers = register_module("layers", cloned_layers("TransformerEncoder", encoder_layer, num_layers));
  if (this->norm) register_module("norm", this->norm);
}

Tensor TransformerEncoder::forward(const Tensor& src) { return forward(src, Tensor()); }

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask,
                                   const Tensor& src_key_padding_mask,
                                   std::optional<bool> is_causal) {
  Tensor x = src;
  for (size_t i = 0; i < layers->size(); ++i)
    x = layer_at<TransformerEncoderLayer>("TransformerEncoder", *layers, i)
            ->forward(x, mask, src_key_padding_mask, is_causal.value_or(false));
  return norm ? norm->forward(x) : x;
}

// ---------------------------------------------------------------- TransformerDecoderLayer

TransformerDecoderLayer::TransformerDecoderLayer(int64_t d_model, int64_t nhead,
                                                 int64_t dim_feedforward, double dropout,
                                                 TransformerActivation activation,
                                                 double layer_norm_eps, bool batch_first,
                                                 bool norm_first, TensorOptions options)
    : Module("TransformerDecoderLayer"),
      TransformerLayerConfig{d_model, nhead, dim_feedforward, dropout, layer_norm_eps, batch_first,
                             norm_first, std::move(activation)} {
  TG_CHECK(this->activation.fn != nullptr, Value,
           "TransformerDecoderLayer: the activation function is empty");
  self_attn = register_module("self_attn", make_attention(d_model, nhead, dropout, batch_first, options));
  multihead_attn =
      register_module("multihead_attn", make_attention(d_model, nhead, dropout, batch_first, options));
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, dim_feedforward, true, options));
  this->dropout = register_module("dropout", std::make_shared<Dropout>(dropout));
  linear2 = register_module("linear2", std::make_shared<Linear>(dim_feedforward, d_model, true, options));
  norm1 = register_module("norm1", make_norm(d_model, layer_norm_eps, options));
  norm2 = register_module("norm2", make_norm(d_model, layer_norm_eps, options));
  norm3 = register_module("norm3", make_norm(d_model, layer_norm_eps, options));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(dropout));
  dropout3 = register_module("dropout3", std::make_shared<Dropout>(dropout));
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory,
                                        const Tensor& tgt_mask, const Tensor& memory_mask,
                                        const Tensor& tgt_key_padding_mask,
                                        const Tensor& memory_key_padding_mask, bool tgt_is_causal,
                                        bool memory_is_causal) {
  auto self_attention_block = [&](const Tensor& x) {
    return dropout1->forward(std::get<0>(self_attn->forward(
        x, x, x, tgt_key_padding_mask, false, tgt_mask, true, tgt_is_causal)));
  };
  auto memory_attention_block = [&](const Tensor& x) {
    return dropout2->forward(std::get<0>(multihead_attn->forward(
        x, memory, memory, memory_key_padding_mask, false, memory_mask, true, memory_is_causal)));
  };
  Tensor x = tgt;
  if (norm_first) {
    x = tg::add(x, self_attention_block(norm1->forward(x)));
    x = tg::add(x, memory_attention_block(norm2->forward(x)));
    x = tg::add(x, feed_forward_block(*this, norm3->forward(x), *dropout3));
  } else {
    x = norm1->forward(tg::add(x, self_attention_block(x)));
    x = norm2->forward(tg::add(x, memory_attention_block(x)));
    x = norm3->forward(tg::add(x, feed_forward_block(*this, x, *dropout3)));
  }
  return x;
}

std::shared_ptr<TransformerDecoderLayer> TransformerDecoderLayer::clone() const {
  return deep_copy(*this);
}

// ---------------------------------------------------------------- TransformerDecoder

TransformerDecoder::TransformerDecoder(const std::shared_ptr<TransformerDecoderLayer>& decoder_layer,
                                       int64_t num_layers, std::shared_ptr<LayerNorm> norm)
    : Module("TransformerDecoder"), num_layers(num_layers), norm(std::move(norm)) {
  layers = register_module("layers", cloned_layers("TransformerDecoder", decoder_layer, num_layers));
  if (this->norm) register_module("norm", this->norm);
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                   const Tensor& memory_mask, const Tensor& tgt_key_padding_mask,
                                   const Tensor& memory_key_padding_mask,
                                   std::optional<bool> tgt_is_causal, bool memory_is_causal) {
  Tensor x = tgt;
  for (size_t i = 0; i < layers->size(); ++i)
    x = layer_at<TransformerDecoderLayer>("TransformerDecoder", *layers, i)
            ->forward(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                      memory_key_padding_mask, tgt_is_causal.value_or(false), memory_is_causal);
  return norm ? norm->forward(x) : x;
}

// ---------------------------------------------------------------- Transformer

namespace {
// num_layers copies of a layer made from `c`, with a final LayerNorm (nn.Transformer's stacks).
template <class Stack, class Layer>
std::shared_ptr<Stack> default_stack(const TransformerLayerConfig& c, int64_t num_layers,
                                     TensorOptions options) {
  return std::make_shared<Stack>(make_layer<Layer>(c, options), num_layers,
                                 make_norm(c.d_model, c.layer_norm_eps, options));
}
}  // namespace

Transformer::Transformer(int64_t d_model, int64_t nhead, int64_t num_encoder_layers,
                         int64_t num_decoder_layers, int64_t dim_feedforward, double dropout,
                         TransformerActivation activation,
                         std::shared_ptr<TransformerEncoder> custom_encoder,
                         std::shared_ptr<TransformerDecoder> custom_decoder, double layer_norm_eps,
                         bool batch_first, bool norm_first, TensorOptions options)
    : Module("Transformer"), d_model(d_model), nhead(nhead), batch_first(batch_first) {
  const TransformerLayerConfig config{d_model,        nhead,       dim_feedforward, dropout,
                                      layer_norm_eps, batch_first, norm_first,      activation};
  encoder = register_module(
      "encoder", custom_encoder ? custom_encoder
                                : default_stack<TransformerEncoder, TransformerEncoderLayer>(
                                      config, num_encoder_layers, options));
  decoder = register_module(
      "decoder", custom_decoder ? custom_decoder
                                : default_stack<TransformerDecoder, TransformerDecoderLayer>(
                                      config, num_decoder_layers, options));
  for (const Tensor& p : parameters())
    if (p.dim() > 1) init::xavier_uniform_(p);
}

Tensor Transformer::forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask,
                            const Tensor& tgt_mask, const Tensor& memory_mask,
                            const Tensor& src_key_padding_mask,
                            const Tensor& tgt_key_padding_mask,
                            const Tensor& memory_key_padding_mask,
                            std::optional<bool> src_is_causal, std::optional<bool> tgt_is_causal,
                            bool memory_is_causal) {
  TG_CHECK(src.defined() && tgt.defined(), Value, "Transformer: src and tgt must be defined");
  if (src.dim() == 3 && tgt.dim() == 3) {
    const int64_t bdim = batch_first ? 0 : 1;
    TG_CHECK(src.size(bdim) == tgt.size(bdim), Value,
             "Transformer: the batch number of src and tgt must be equal, got src ", src.sizes(),
             " and tgt ", tgt.sizes(), batch_first ? " (batch_first)" : "");
  }
  TG_CHECK(src.dim() >= 1 && tgt.dim() >= 1 && src.size(-1) == d_model && tgt.size(-1) == d_model,
           Value, "Transformer: the feature number of src and tgt must be equal to d_model (",
           d_model, "), got src ", src.sizes(), " and tgt ", tgt.sizes());
  Tensor memory = encoder->forward(src, src_mask, src_key_padding_mask, src_is_causal);
  return decoder->forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                          memory_key_padding_mask, tgt_is_causal, memory_is_causal);
}

}  // namespace tg::nn
