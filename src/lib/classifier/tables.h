// The classifier's tables: the data the generated code reads, laid out in one
// byte blob that becomes the value of a one-element BPF array (the code
// addresses it directly, with no lookup call). Pure, unit-tested.
//
// Per table group (plan.h): an index (a Trie4's level-1 array and nodes, a
// Ports array, or a Hash6 bucket array) whose entries name a candidate list;
// the lists (each at most kMaxCandidates record numbers, in rule order); and
// one record per rule with what remains to be checked (masks, values, port
// ranges, flags) and the verdict (rule id, action, redirect target).
//
// The builders are also what the planner uses to try a key: add() refuses
// (and changes nothing) when a candidate list would overflow.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <unordered_map>
#include <variant>
#include <vector>

#include "classifier/plan.h"
#include "core/result.h"

namespace xdpguard::cls {

// ---- what the generated code reads -----------------------------------------

// A candidate list: `count` record numbers (indices into the group's records).
struct CandidateList {
  std::uint16_t count;
  std::uint16_t rec[kMaxCandidates];
  std::uint8_t pad[32 - 2 - 2 * kMaxCandidates];
};
static_assert(sizeof(CandidateList) == 32);

// One rule of an IPv4 or family-less group. Addresses as the packet holds
// them (network byte order words); a field the rule does not match has mask
// 0 / the full port range.
struct Record4 {
  std::uint32_t prio, slot, action, ifindex;
  std::uint32_t smask, sval, dmask, dval;
  std::uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
  std::uint8_t flags_mask, flags_val, l4, pad;
  std::uint32_t vlan_mask, vlan_val;  // VlanTest (plan.h); mask 0: no vlan match
  std::uint8_t pad2[12];
};
static_assert(sizeof(Record4) == 64);

struct Record6 {
  std::uint32_t prio, slot, action, ifindex;
  std::uint32_t smask[4], sval[4], dmask[4], dval[4];
  std::uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
  std::uint8_t flags_mask, flags_val, l4, pad;
  std::uint32_t vlan_mask, vlan_val;
  std::uint8_t pad2[28];
};
static_assert(sizeof(Record6) == 128);

// Trie4: level 1 and level-2 nodes have 32-bit entries: 0 empty; bit 31 set:
// a child node (level 2 from level 1, level 3 from level 2); otherwise a
// candidate list number. Level-3 nodes (the last /24s, most numerous) have
// 16-bit entries: candidate list numbers only.
inline constexpr std::uint32_t kTrieNode = 0x80000000u;
inline constexpr std::uint32_t kTrieNode2Bytes = 256 * 4;
inline constexpr std::uint32_t kTrieNode3Bytes = 256 * 2;

// The tables live in one or more one-element array maps ("blobs") of at most
// kMaxBlobBytes each: older kernels refuse array values over 4 MiB
// (KMALLOC_MAX_SIZE). A group's tables are in one blob, so a table takes at
// most kMaxTableRules rules and a trie at most kMaxTrieBytes of nodes.
inline constexpr std::size_t kMaxBlobBytes = std::size_t{4} << 20;
inline constexpr std::size_t kMaxTableRules = 8192;

// Hash6 buckets are 64 bytes of slots {key words..., list number}.
inline constexpr std::uint32_t kBucketBytes = 64;
// Multipliers of the Hash6 hash (each < 2^31: a BPF immediate).
struct Hash6Params {
  std::array<std::uint32_t, 5> k{};
  std::uint32_t bits = 0;  // log2(buckets)
};
// Bucket of a key (words as the packet holds them, masked; `words` of them).
std::uint64_t hash6(const std::array<std::uint32_t, 4>& key, unsigned words, const Hash6Params& p);

// Where one table group's data lies: offsets within blob number `blob`.
struct GroupTables {
  std::uint32_t blob = 0;
  std::uint32_t index_off = 0;                // Trie4 level 1, Ports array, Hash6 buckets
  std::uint32_t nodes2_off = 0, nnodes2 = 0;  // Trie4 level-2 nodes (kTrieNode2Bytes each)
  std::uint32_t nodes3_off = 0, nnodes3 = 0;  // Trie4 level-3 nodes (kTrieNode3Bytes each)
  std::uint32_t lists_off = 0, nlists = 0;
  std::uint32_t recs_off = 0, nrecs = 0, rec_size = 0;
  // Hash6
  std::uint32_t key_words = 0, slot_words = 0, slots = 0, probes = 0;
  Hash6Params hash;
  std::uint32_t bytes = 0;  // all of the above
};

// Whatever keeps a blob's bytes alive.
struct BlobOwner {
  virtual ~BlobOwner() = default;
};

// One blob's bytes, zeroed when made: on the heap, unless a BlobStore put
// them elsewhere (the loader's: in the kernel map the classifier will read,
// so that the tables are written once, in place: classifier/loader.h).
// Copies share the bytes.
class Blob {
 public:
  Blob() = default;
  Blob(std::span<std::uint8_t> bytes, std::shared_ptr<BlobOwner> owner)
      : bytes_(bytes), owner_(std::move(owner)) {}
  static Blob on_heap(std::size_t n);
  std::uint8_t* data() const { return bytes_.data(); }
  std::size_t size() const { return bytes_.size(); }
  BlobOwner* owner() const { return owner_.get(); }

 private:
  std::span<std::uint8_t> bytes_;
  std::shared_ptr<BlobOwner> owner_;
};
// Makes a blob of n zeroed bytes.
using BlobStore = std::function<Result<Blob>(std::size_t n)>;

struct Tables {
  std::vector<Blob> blobs;          // none when the plan has no table
  std::vector<GroupTables> groups;  // parallel to Plan::groups (zero for chains)
  std::size_t bytes() const;
};

// `store` makes the blobs; none: Blob::on_heap.
[[nodiscard]] Result<Tables> build_tables(const Plan& plan, const BlobStore& store = {});

// The 32-bit words of addr as the packet holds them (memory order), masked
// to len bits.
std::array<std::uint32_t, 4> masked_words(const std::array<std::uint8_t, 16>& addr, unsigned len);

// ---- builders (also used by the planner to try a key) ----------------------

class Trie4 {
 public:
  static constexpr unsigned kMinLen = 8;  // shorter prefixes expand too much
  // Level 1 and the nodes, so that a trie's tables fit one blob.
  static constexpr std::size_t kMaxTrieBytes = std::size_t{3} << 20;
  Trie4();
  // addr in host byte order, len kMinLen..32; rec: the rule's record number.
  // Refuses (changing nothing) when a candidate list would overflow or the
  // trie would outgrow kMaxTrieBytes.
  bool add(std::uint32_t addr, unsigned len, std::uint32_t rec);
  std::size_t nodes() const { return nodes_.size(); }
  std::size_t bytes() const { return 65536 * 4 + n2_ * kTrieNode2Bytes + n3_ * kTrieNode3Bytes; }

  // An entry is a node's number or a candidate list's: the lists live once
  // in the trie's pool, shared by the entries that have the same one (a
  // split node's 256 entries all start with their parent's). 4 bytes an
  // entry: a 10,000-rule trie of 5,000 nodes is 5 MB to build, not 41.
  class Entry {
   public:
    std::int32_t child() const { return v_ & kNodeBit ? static_cast<std::int32_t>(v_ & ~kNodeBit) : -1; }
    std::uint32_t list() const { return v_ & kNodeBit ? 0 : v_; }  // 0: the empty list
    void set_child(std::uint32_t node) { v_ = kNodeBit | node; }
    void set_list(std::uint32_t list) { v_ = list; }

   private:
    static constexpr std::uint32_t kNodeBit = 1u << 31;
    std::uint32_t v_ = 0;
  };
  const std::vector<Entry>& level1() const { return l1_; }
  const std::deque<std::array<Entry, 256>>& node_list() const { return nodes_; }
  const std::vector<std::uint32_t>& list(const Entry& e) const { return pool_[e.list()]; }
  std::size_t pool_size() const { return pool_.size(); }

 private:
  std::size_t fill(const Entry& e) const;
  void add_to(Entry& e, std::uint32_t rec);
  std::int32_t split(Entry& e);
  std::vector<Entry> l1_;
  std::deque<std::array<Entry, 256>> nodes_;  // a deque: entries keep their address
  std::size_t n2_ = 0, n3_ = 0;               // nodes at levels 2 and 3
  // Lists, never changed once made: adding a record to an entry points it
  // at its list plus the record. One add gives every entry that had list L
  // the same new list (appended_: L -> it, for the add under way).
  std::vector<std::vector<std::uint32_t>> pool_{{}};
  std::unordered_map<std::uint32_t, std::uint32_t> appended_;
};

class PortMap {
 public:
  PortMap();
  bool add(std::uint16_t lo, std::uint16_t hi, std::uint32_t rec);
  // Segment starts -> candidate list, covering 0..65535.
  const std::map<std::uint32_t, std::vector<std::uint32_t>>& segments() const { return seg_; }

 private:
  void split_at(std::uint32_t at);
  std::map<std::uint32_t, std::vector<std::uint32_t>> seg_;
};

class Hash6Buckets {
 public:
  explicit Hash6Buckets(unsigned key_len) : key_len_(key_len) {}
  bool add(const std::array<std::uint8_t, 16>& addr, std::uint32_t rec);
  unsigned key_len() const { return key_len_; }
  const std::map<std::array<std::uint32_t, 4>, std::vector<std::uint32_t>>& buckets() const { return keys_; }

 private:
  unsigned key_len_;
  std::map<std::array<std::uint32_t, 4>, std::vector<std::uint32_t>> keys_;
};

// A table's builder with its group's rules added, numbered as in the group.
struct GroupIndex {
  std::variant<Trie4, PortMap, Hash6Buckets> builder;
};

// What a table keys on: its kind and field, and for Hash6 the length its
// addresses are masked to.
struct TableKey {
  GroupKind kind = GroupKind::Chain;
  Field field = Field::Saddr;
  std::uint8_t key_len = 0;
};

// What a table with key k indexes rule r by: its port range (Ports) or
// prefix (Trie4, Hash6); null when r has none such a table can take.
const rules::PortRange* key_ports(const TableKey& k, const rules::Rule& r);
const rules::Prefix* key_prefix(const TableKey& k, const rules::Rule& r);

// A table with key k over rules[pos] for pos in `positions`, in order: each
// rule it can index and its builder accepts is taken, numbered as taken (a
// refused add changes nothing), up to `max`. The planner's trial of a key
// and build_tables' fallback for a group it did not plan are this one walk.
struct IndexedRules {
  std::vector<std::uint32_t> taken;  // positions, ascending
  std::shared_ptr<GroupIndex> index;
};
IndexedRules index_rules(const TableKey& k, std::span<const std::uint32_t> positions,
                         const std::vector<CompiledRule>& rules, std::size_t max);

}  // namespace xdpguard::cls
