// The two models tapegrad-train and the fashion_mnist example train on 28x28 grey images in 10
// classes: "mlp" (784-256-128-10, ReLU) and "cnn" (two conv-BN-ReLU-pool blocks and two layers).
#pragma once
#include <tapegrad/tapegrad.h>

#include <memory>
#include <string>

inline std::shared_ptr<tg::nn::Module> make_fashion_model(const std::string& name) {
  namespace nn = tg::nn;
  auto model = std::make_shared<nn::Sequential>();
  if (name == "mlp") {
    model->push_back(std::make_shared<nn::Flatten>());
    model->push_back(std::make_shared<nn::Linear>(784, 256));
    model->push_back(std::make_shared<nn::ReLU>());
    model->push_back(std::make_shared<nn::Linear>(256, 128));
    model->push_back(std::make_shared<nn::ReLU>());
    model->push_back(std::make_shared<nn::Linear>(128, 10));
  } else {
    TG_CHECK(name == "cnn", Value, "make_fashion_model: unknown model '", name, "' (mlp or cnn)");
    // Two 3x3 convolutions (no bias: batch norm's shift replaces it), each followed by batch
    // norm, ReLU and 2x2 max pooling: 28x28 -> 14x14 -> 7x7. Batch norm is what lets this small
    // net pass 91% in a few epochs.
    model->push_back(std::make_shared<nn::Conv2d>(1, 16, 3, 1, 1, 1, 1, /*bias=*/false));
    model->push_back(std::make_shared<nn::BatchNorm2d>(16));
    model->push_back(std::make_shared<nn::ReLU>());
    model->push_back(std::make_shared<nn::MaxPool2d>(2));
    model->push_back(std::make_shared<nn::Conv2d>(16, 32, 3, 1, 1, 1, 1, /*bias=*/false));
    model->push_back(std::make_shared<nn::BatchNorm2d>(32));
    model->push_back(std::make_shared<nn::ReLU>());
    model->push_back(std::make_shared<nn::MaxPool2d>(2));
    model->push_back(std::make_shared<nn::Flatten>());
    model->push_back(std::make_shared<nn::Linear>(32 * 7 * 7, 128));
    model->push_back(std::make_shared<nn::ReLU>());
    model->push_back(std::make_shared<nn::Linear>(128, 10));
  }
  return model;
}
