// kernels/score.h for avx512 (see score_impl.h).
#define TERN_SCORE_ISA avx512
#include "kernels/score_impl.h"
