// kernels/score.h for base (see score_impl.h).
#define TERN_SCORE_ISA base
#include "kernels/score_impl.h"
