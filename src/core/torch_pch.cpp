// Anchor translation unit of the shared LibTorch precompiled header (see CMakeLists.txt):
// targets that use LibTorch link mixhic_torch_pch and reuse its PCH instead of parsing
// torch/torch.h (~20 s) in every file.
#include <torch/torch.h>
