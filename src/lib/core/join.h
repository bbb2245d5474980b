// Threads stopped and joined on every way out of a scope: `stop` is set,
// then each thread still joinable is joined (a failed assertion or an early
// return never leaves a thread running, nor a joinable std::thread to be
// destroyed, which would call std::terminate).
#pragma once

#include <atomic>
#include <initializer_list>
#include <thread>
#include <vector>

namespace xdpguard {

class JoinOnExit {
 public:
  JoinOnExit(std::atomic<bool>& stop, std::initializer_list<std::thread*> threads)
      : stop_(stop), threads_(threads) {}
  JoinOnExit(const JoinOnExit&) = delete;
  JoinOnExit& operator=(const JoinOnExit&) = delete;
  ~JoinOnExit() {
    stop_ = true;
    for (auto* t : threads_)
      if (t->joinable()) t->join();
  }

 private:
  std::atomic<bool>& stop_;
  std::vector<std::thread*> threads_;
};

}  // namespace xdpguard
