// GoBGP's `gobgp monitor global rib -a ipv4-flowspec|ipv6-flowspec --json`:
// one line -> FlowSpec events, and `gobgp global rib -a ... --json` (the
// RIB: an object of destinations, each a list of paths) -> one announce per
// destination (tests/data/flowspec/FORMATS.md).
//
// A line is a JSON array of paths (`[]` too); `{"error": ...}` is the
// daemon gone (the monitor then exits). A path: nlri.value = components
// [{type, value}] (prefixes {"prefix": "a/len"} with "offset" beside value
// for IPv6; the others [{op, value}] with op the RFC 8955 operator byte),
// "withdrawal": true for a withdraw, attrs: type 14's afi (1 IPv4, 2 IPv6),
// type 16 the extended communities as objects ({type 128, subtype 6, rate},
// {subtype 7, terminal, sample}, ...), type 25 IPv6 ones. GoBGP names the
// numeric operator bits 000 "true" on its command line; the bits are read
// here as RFC 8955 says (000: false).
//
// `family` keeps the paths of one family (the monitor's -a does not filter).
// Failures are per path, as for ExaBGP (exabgp.h).
#pragma once

#include <string>
#include <string_view>

#include "flowspec/exabgp.h"

namespace xdpguard::flowspec {

// The RIB as `gobgp global rib -a FAMILY --json` prints it: the best path of
// each destination, announced. Empty text is an empty RIB.
Decoded decode_gobgp_rib(std::string_view text, rules::Family family, const std::string& peer);
// `error` is set when the line is the daemon's error object.
Decoded decode_gobgp(std::string_view line, rules::Family family, const std::string& peer,
                     bool* error = nullptr);

}  // namespace xdpguard::flowspec
