// kernels/score.h for avx2 (see score_impl.h).
#define TERN_SCORE_ISA avx2
#include "kernels/score_impl.h"
