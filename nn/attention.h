// Attention: F::scaled_dot_product_attention, F::multi_head_attention_forward, and the modules
// MultiheadAttention, TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer,
// TransformerDecoder and Transformer, with PyTorch's argument
// names, defaults, parameter names, shapes and init (so state dicts move between the two
// unchanged).
//
// Masks. Two conventions, both PyTorch's:
//  - scaled_dot_product_attention: a bool attn_mask is true where a query MAY attend (PyTorch
//    2's SDPA); a floating one is added to the scores.
//  - MultiheadAttention / Transformer*: a bool attn_mask or key_padding_mask is true where a
//    query may NOT attend (masked out); a floating one is added to the scores.
// Bool masks go through one fused op, tg::masked_softmax. A query row with every key masked
// gives NaN, exactly as PyTorch 1.13's MultiheadAttention and 2.x's math SDPA (softmax of an all
// -inf row) do; such rows propagate NaN through the output projection of that position.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "functional.h"
#include "layers.h"
#include "module.h"

namespace tg::nn::functional {

struct ScaledDotProductAttentionOptions {
  Tensor attn_mask{};  // bool (true = attend) or the query's float dtype, broadcast to [..., L, S]
  double dropout_p = 0.0;  // applied to the attention weights whenever > 0 (as PyTorch)
  bool is_causal = false;  // query i attends to keys j <= i (top-left aligned); no attn_mask then
  std::optional<double> scale{};  // default 1 / sqrt(E)
};

// softmax(query @ key^T * scale + mask) @ value. query [..., L, E], key [..., S, E], value
// [..., S, Ev] (batch dims broadcast); the result is [..., L, Ev].
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask = Tensor(), double dropout_p = 0.0,
                                    bool is_causal = false,
                                    std::optional<double> scale = std::nullopt);
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const ScaledDotProductAttentionOptions& options);

// The keyword arguments of torch.nn.functional.multi_head_attention_forward (static_k/static_v
// are not supported).
struct MultiheadAttentionForwardOptions {
  bool training = true;
  Tensor key_padding_mask{};  // [N, S] or unbatched [S]; bool true = ignore that key
  bool need_weights = true;
  Tensor attn_mask{};  // [L, S] or [N * num_heads, L, S]; bool true = may not attend
  bool use_separate_proj_weight = false;
  Tensor q_proj_weight{}, k_proj_weight{}, v_proj_weight{};
  bool average_attn_weights = true;
  bool is_causal = false;  // a hint that attn_mask is the causal mask (which must be given)
  bool batch_first = false;  // not in PyTorch's function: inputs [N, L, E] instead of [L, N, E]
};

// Multi-head attention on sequence-first inputs: query [L, N, E] (unbatched [L, E]), key
// [S, N, kdim], value [S, N, vdim]. Returns (output [L, N, E], weights): weights are [N, L, S]
// averaged over heads, [N, num_heads, L, S] otherwise (unbatched: without N), undefined when
// !need_weights. Dropout (dropout_p, when training) applies to the weights.
std::tuple<Tensor, Tensor> multi_head_attention_forward(
    const Tensor& query, const Tensor& key, const Tensor& value, int64_t embed_dim_to_check,
    int64_t num_heads, const Tensor& in_proj_weight, const Tensor& in_proj_bias,
    const Tensor& bias_k, const Tensor& bias_v, bool add_zero_attn, double dropout_p,
    const Tensor& out_proj_weight, const Tensor& out_proj_bias,
    const MultiheadAttentionForwardOptions& options = {});

}  // namespace tg::nn::functional

namespace tg::nn {

// A float [sz, sz] mask with -inf above the diagonal and 0 elsewhere: each position attends to
// itself and earlier ones (PyTorch's Transformer.generate_square_subsequent_mask).
Tensor generate_square_subsequent_mask(int64_t sz, TensorOptions options = {});

// MultiheadAttention's out_proj: a Linear that prints under PyTorch's name for it.
class NonDynamicallyQuantizableLinear : public Linear {
 public:
  NonDynamicallyQuantizableLinear(int64_t in_features, int64_t out_features, bool bias = true,
                                  TensorOptions options = {})
      : Linear("NonDynamicallyQuantizableLinear", in_features, out_features, bias, options) {}
};

// PyTorch's nn.MultiheadAttention. Parameters: in_proj_weight [3E, E] when kdim == vdim == E,
// else q_proj_weight [E, E], k_proj_weight [E, kdim], v_proj_weight [E, vdim] (all
// xavier_uniform); in_proj_bias [3E] (zeros) when bias; bias_k, bias_v [1, 1, E] (xavier_normal)
// when add_bias_kv; out_proj (Linear(E, E), its bias zeroed).
class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     bool add_bias_kv = false, bool add_zero_attn = false,
                     std::optional<int64_t> kdim = std::nullopt,
                     std::optional<int64_t> vdim = std::nullopt, bool batch_first = false,
                     TensorOptions options = {});
  // Inputs [L, N, E] / [S, N, kdim] / [S, N, vdim] ([N, L, E], ... when batch_first), or
  // unbatched [L, E], ...; see F::multi_head_attention_forward for the masks and results.
  std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                     const Tensor& key_padding_mask = Tensor(),
                                     bool need_weights = true, const Tensor& attn_mask = Tensor(),
                                     bool average_attn_weights = true, bool is_causal = false);
  void reset_parameters();

  int64_t embed_dim, kdim, vdim, num_heads, head_dim;
  double dropout;
  bool batch_first, add_zero_attn;
  Tensor in_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight, in_proj_bias;
  Tensor bias_k, bias_v;
  std::shared_ptr<Linear> out_proj;
};

// The feed-forward activation of a Transformer layer: "relu", "gelu" or any function.
struct TransformerActivation {
  TransformerActivation(const char* name) : TransformerActivation(std::string(name)) {}
  TransformerActivation(std::string name);
  TransformerActivation(std::function<Tensor(const Tensor&)> fn)
      : name("<function>"), fn(std::move(fn)) {}
  std::string name;
  std::function<Tensor(const Tensor&)> fn;
};

// The constructor arguments both Transformer layer kinds share.
struct TransformerLayerConfig {
  int64_t d_model, nhead, dim_feedforward;
  double dropout_p, layer_norm_eps;
  bool batch_first, norm_first;
  TransformerActivation activation;
};

// PyTorch's nn.TransformerEncoderLayer: self-attention then a feed-forward block, each with a
// residual connection and LayerNorm, after (norm_first = false) or before (true) the block.
// Submodules self_attn, linear1, dropout, linear2, norm1, norm2, dropout1, dropout2.
class TransformerEncoderLayer : public Module, public TransformerLayerConfig {
 public:
  TransformerEncoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048,
                          double dropout = 0.1, TransformerActivation activation = "relu",
                          double layer_norm_eps = 1e-5, bool batch_first = false,
                          bool norm_first = false, TensorOptions options = {});
  Tensor forward(const Tensor& src) override;
  // src_mask: [L, L] or [N * nhead, L, L]; src_key_padding_mask: [N, L] (MultiheadAttention's
  // conventions). is_causal: a hint that src_mask is the causal mask.
  Tensor forward(const Tensor& src, const Tensor& src_mask,
                 const Tensor& src_key_padding_mask = Tensor(), bool is_causal = false);
  // A deep copy (same configuration and values, own parameters), as copy.deepcopy.
  std::shared_ptr<TransformerEncoderLayer> clone() const;

  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Dropout> dropout1, dropout2;
};

// PyTorch's nn.TransformerEncoder: num_layers deep copies of encoder_layer (layers.0, ...) and
// an optional final norm. tapegrad always runs the regular path; PyTorch's inference fast paths
// (eval under no_grad) can differ from it: TransformerEncoder's nested tensors write 0 at padded
// positions, and its fused kernels treat fully masked rows differently.
class TransformerEncoder : public Module {
 public:
  TransformerEncoder(const std::shared_ptr<TransformerEncoderLayer>& encoder_layer,
                     int64_t num_layers, std::shared_ptr<LayerNorm> norm = nullptr);
  Tensor forward(const Tensor& src) override;
  Tensor forward(const Tensor& src, const Tensor& mask,
                 const Tensor& src_key_padding_mask = Tensor(),
                 std::optional<bool> is_causal = std::nullopt);

  int64_t num_layers;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;  // null: none
};

// PyTorch's nn.TransformerDecoderLayer: self-attention over tgt, attention from tgt to memory (the
// encoder's output), then the feed-forward block; each with a residual connection and LayerNorm
// after (norm_first = false) or before (true) the block. Submodules self_attn, multihead_attn,
// linear1, dropout, linear2, norm1, norm2, norm3, dropout1, dropout2, dropout3.
class TransformerDecoderLayer : public Module, public TransformerLayerConfig {
 public:
  TransformerDecoderLayer(int64_t d_model, int64_t nhead, int64_t dim_feedforward = 2048,
                          double dropout = 0.1, TransformerActivation activation = "relu",
                          double layer_norm_eps = 1e-5, bool batch_first = false,
                          bool norm_first = false, TensorOptions options = {});
  // tgt [T, N, E], memory [S, N, E] ([N, T, E], [N, S, E] when batch_first). tgt_mask [T, T],
  // memory_mask [T, S] (or 3-D per head); key padding masks [N, T] and [N, S]. *_is_causal: hints
  // that the matching mask is causal.
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor(),
                 const Tensor& memory_mask = Tensor(),
                 const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor(), bool tgt_is_causal = false,
                 bool memory_is_causal = false);
  std::shared_ptr<TransformerDecoderLayer> clone() const;  // a deep copy

  std::shared_ptr<MultiheadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;
  std::shared_ptr<Dropout> dropout1, dropout2, dropout3;
};

// PyTorch's nn.TransformerDecoder: num_layers deep copies of decoder_layer (layers.0, ...) and an
// optional final norm.
class TransformerDecoder : public Module {
 public:
  TransformerDecoder(const std::shared_ptr<TransformerDecoderLayer>& decoder_layer,
                     int64_t num_layers, std::shared_ptr<LayerNorm> norm = nullptr);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor(),
                 const Tensor& memory_mask = Tensor(),
                 const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor(),
                 std::optional<bool> tgt_is_causal = std::nullopt, bool memory_is_causal = false);

  int64_t num_layers;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;  // null: none
};

// PyTorch's nn.Transformer: an encoder (num_encoder_layers, final LayerNorm) and a decoder
// (num_decoder_layers, final LayerNorm), or the custom ones given; every parameter with more than
// one dim is then re-drawn with xavier_uniform, as PyTorch's _reset_parameters.
class Transformer : public Module {
 public:
  explicit Transformer(int64_t d_model = 512, int64_t nhead = 8, int64_t num_encoder_layers = 6,
                       int64_t num_decoder_layers = 6, int64_t dim_feedforward = 2048,
                       double dropout = 0.1, TransformerActivation activation = "relu",
                       std::shared_ptr<TransformerEncoder> custom_encoder = nullptr,
                       std::shared_ptr<TransformerDecoder> custom_decoder = nullptr,
                       double layer_norm_eps = 1e-5, bool batch_first = false,
                       bool norm_first = false, TensorOptions options = {});
  // src [S, N, E], tgt [T, N, E] ([N, S, E], [N, T, E] when batch_first, or unbatched [S, E],
  // [T, E]); the masks as in the encoder and decoder. Returns [T, N, E].
  Tensor forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask = Tensor(),
                 const Tensor& tgt_mask = Tensor(), const Tensor& memory_mask = Tensor(),
                 const Tensor& src_key_padding_mask = Tensor(),
                 const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor(),
                 std::optional<bool> src_is_causal = std::nullopt,
                 std::optional<bool> tgt_is_causal = std::nullopt, bool memory_is_causal = false);
  static Tensor generate_square_subsequent_mask(int64_t sz, TensorOptions options = {}) {
    return nn::generate_square_subsequent_mask(sz, options);
  }

  int64_t d_model, nhead;
  bool batch_first;
  std::shared_ptr<TransformerEncoder> encoder;
  std::shared_ptr<TransformerDecoder> decoder;
};

}  // namespace tg::nn
