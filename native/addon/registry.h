// The backends this process can use: those built into the addon, then plugins.
#pragma once
#include <string>
#include <vector>

#include "../backend.h"

namespace fp8k::addon {

std::vector<const fp8k_backend*> all_backends();
const fp8k_backend* find_backend(const std::string& name);
bool backend_usable(const fp8k_backend* b, std::string* reason);

}  // namespace fp8k::addon
