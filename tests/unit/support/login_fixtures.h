#pragma once
// Fixtures the POP3 and SMTP login tests share. Each test runs whole,
// byte-at-a-time and in 3-byte reads: the parameter is the read size
// (0: all at once), instantiated by each test file.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "proxy/session/login_machine.h"
#include "proxy/upstream/backend_login.h"
#include "tests/unit/support/recording_sinks.h"

namespace mailgate::testing {

// A client-side login machine on mx.example.org.
class LoginMachineTest : public ::testing::TestWithParam<size_t> {
 protected:
  using Factory = std::unique_ptr<LoginMachine> (*)(const LoginPolicy&, LoginSink&);
  LoginMachineTest(Factory factory, std::string greeting)
      : factory_(factory), greeting_(std::move(greeting)) {}

  void make(LoginPolicy p) {
    p.hostname = "mx.example.org";
    m_ = factory_(p, sink_);
    m_->start();
    ASSERT_EQ(sink_.take(), greeting_);
  }
  void makeTls() {
    LoginPolicy p;
    p.tlsActive = true;
    make(p);
  }
  std::string send(std::string_view bytes) {
    feed(*m_, bytes, GetParam());
    return sink_.take();
  }

  RecordingLoginSink sink_;
  std::unique_ptr<LoginMachine> m_;

 private:
  Factory factory_;
  std::string greeting_;
};

// A backend login with `params_` as each test sets them.
class BackendLoginTest : public ::testing::TestWithParam<size_t> {
 protected:
  using Factory = std::unique_ptr<BackendLogin> (*)(const BackendLoginParams&, BackendLoginSink&);
  explicit BackendLoginTest(Factory factory) : factory_(factory) {}

  void make() { b_ = factory_(params_, sink_); }
  std::string reply(std::string_view bytes) {
    feed(*b_, bytes, GetParam());
    return sink_.take();
  }
  // The one result so far (a failed expectation if there is not exactly one).
  const BackendLoginResult& result() {
    EXPECT_EQ(sink_.results.size(), 1u);
    static BackendLoginResult none;
    return sink_.results.empty() ? none : sink_.results.back();
  }

  BackendLoginParams params_;
  RecordingBackendSink sink_;
  std::unique_ptr<BackendLogin> b_;

 private:
  Factory factory_;
};

}  // namespace mailgate::testing
