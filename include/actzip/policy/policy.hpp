// SPDX-License-Identifier: Apache-2.0
//
// The interface every error-bound policy implements. A framework adapter calls it
// the same way whatever the policy:
//
//   forward, for each saved tensor:   decision d = pol.decide(info);
//                                     ... compress with d.p (or keep it raw) ...
//                                     pol.record(result);
//   backward, for each conv/linear:   pol.observe(feedback);
//   after the optimizer step:         pol.end_step();
//
// Policies are host-side objects; they never touch tensor data, only the few
// statistics the adapter hands them. They are not thread-safe: one adapter owns one
// policy.
#pragma once

#include <actzip/core/dtype.hpp>
#include <actzip/params.hpp>

#include <cstdint>

namespace actzip::policy {

//! What a saved tensor is used for in the backward pass.
enum class tensor_role : std::uint8_t {
  //! Input of a linear map (convolution, linear layer): an error in it perturbs only
  //! the weight gradient, and the adaptive bound formula applies.
  linear_input = 0,
  //! Feeds a nonlinear backward formula through its sign or its zeros (ReLU and
  //! friends): compressed with preserve_sign so masks computed from it are exact.
  mask = 1,
  //! Must be kept exactly (normalisation statistics, softmax outputs, indices, ...).
  exact = 2,
  //! Anything else: a policy gives it its default bound.
  other = 3,
};

//! What the adapter knows about a tensor when it is saved (forward time).
struct tensor_info {
  std::uint64_t key = 0;         //!< stable identifier of the saving site, the same every step
  dtype type = dtype::float32;   //!< element type
  std::uint64_t count = 0;       //!< number of elements
  tensor_role role = tensor_role::other;
  double value_range = -1.0;     //!< max - min of the finite values, < 0 when unknown
  std::uint64_t fan_in = 0;      //!< C_in*k_h*k_w (conv) or d_in (linear); 0 when not applicable
};

//! A policy's answer for one tensor.
struct decision {
  bool compress = true;  //!< false: keep the tensor uncompressed
  params p{};            //!< bound, codec and preserve_sign to compress with
};

//! What the adapter learnt after compressing one tensor (forward time).
struct tensor_result {
  std::uint64_t key = 0;               //!< the tensor_info key
  std::uint64_t raw_bytes = 0;         //!< bytes of the uncompressed tensor
  std::uint64_t compressed_bytes = 0;  //!< bytes of the stream (raw_bytes when kept raw)
  double absolute_bound = 0.0;         //!< the absolute bound the stream honours (0 when exact)
};

//! Statistics of one conv/linear layer measured in the backward pass.
struct layer_feedback {
  std::uint64_t key = 0;               //!< the tensor_info key of the layer's saved input
  double weight_grad_norm = 0.0;       //!< ||dW||_F
  double output_grad_norm = 0.0;       //!< ||G||_F, the gradient with respect to the layer's output
  double nonzero_fraction = 1.0;       //!< rho, fraction of non-zeros in the saved input
  std::uint64_t fan_in = 0;            //!< as in tensor_info
};

//! The interface of every policy.
class policy {
 public:
  virtual ~policy() = default;
  //! The bound (or exactness) for one tensor about to be saved.
  virtual decision decide(const tensor_info& info) = 0;
  //! The outcome of compressing a tensor decided by `decide`.
  virtual void record(const tensor_result& result) { (void)result; }
  //! Backward-pass statistics of one layer.
  virtual void observe(const layer_feedback& feedback) { (void)feedback; }
  //! Called once after each training step (after the optimizer update).
  virtual void end_step() {}
};

}  // namespace actzip::policy
