// tg::optim: optimizers, learning-rate schedulers, gradient clipping, early stopping.
#pragma once
#include "adagrad.h"
#include "adam.h"
#include "clip.h"
#include "functional.h"
#include "lbfgs.h"
#include "lr_scheduler.h"
#include "optimizer.h"
#include "rmsprop.h"
#include "serialize.h"
#include "sgd.h"
