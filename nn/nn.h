// tg::nn: modules, layers, losses, the functional forms (tg::nn::F) and initializers
// (tg::nn::init).
#pragma once
#include "attention.h"
#include "conv.h"
#include "functional.h"
#include "init.h"
#include "layers.h"
#include "loss.h"
#include "module.h"
#include "pooling.h"
#include "rnn.h"
#include "serialize.h"
