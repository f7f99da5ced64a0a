#pragma once
// Names for code addresses in this process (stall reports, crash diagnostics): the function
// (demangled, static functions included, read from the ELF symbol table with elfutils' libdwfl),
// its offset, and the source line when debug info is present. Slow (the first call loads the
// symbol tables): call it only off the hot path, never from a signal handler.
#include <string>

namespace sluice::io {

// "ns::function(args)+0x1c at file.cc:42", or "module+0x1234" when no symbol covers it.
std::string describe_code_address(const void* pc);

}  // namespace sluice::io
