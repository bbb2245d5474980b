// `xdpguard gen`: lab traffic generator (issue 4). Registration hook.
#include "cli/commands.h"

namespace xdpguard::cli {

void register_gen_command(CLI::App&, Command&) {}

}  // namespace xdpguard::cli
