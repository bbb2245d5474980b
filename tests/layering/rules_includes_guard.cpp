// Must NOT compile: the rule language (rules) sits below the firewall
// (guard), so an include of guard/ from a module that depends only on rules
// is a build error (cmake/Modules.cmake). tests/CMakeLists.txt builds this
// file as a test that passes when the build fails for that reason.
#include "guard/guard.h"
#include "rules/parser.h"

int probe() { return 0; }
