#include "proxy/admin/admin_server.h"

#include <uv.h>

#include <thread>

#include "proxy/admin/admin_listener.h"
#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"

namespace mailgate {

struct AdminServer::Impl {
  uv_loop_t loop;
  uv_async_t stop;
  std::unique_ptr<AdminListener> listener;
  std::thread thread;

  static void onStop(uv_async_t* async) {
    auto* self = static_cast<Impl*>(async->data);
    self->listener.reset();  // closes every connection and the socket
    uv_close(reinterpret_cast<uv_handle_t*>(&self->stop), nullptr);
  }
};

std::unique_ptr<AdminServer> AdminServer::start(const std::string& address,
                                                 std::function<bool()> ready, std::string* error) {
  return start(address, std::move(ready), AdminKick{}, error);
}

std::unique_ptr<AdminServer> AdminServer::start(const std::string& address, std::function<bool()> ready,
                                                 AdminKick kick, std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  auto impl = std::make_unique<Impl>();
  if (int rc = uv_loop_init(&impl->loop); rc != 0) {
    *error = std::string("admin loop: ") + uv_strerror(rc);
    return nullptr;
  }
  impl->listener = AdminListener::open(&impl->loop, address, std::move(ready),
                                       [] { return Metrics::instance().serialize(); }, AdminLimits{},
                                       error);
  if (!impl->listener) {
    uv_run(&impl->loop, UV_RUN_DEFAULT);  // finish closing what open() had begun
    uv_loop_close(&impl->loop);
    return nullptr;
  }
  impl->listener->setKick(std::move(kick));  // before the loop's thread starts
  uv_async_init(&impl->loop, &impl->stop, &Impl::onStop);
  impl->stop.data = impl.get();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { uv_run(&raw->loop, UV_RUN_DEFAULT); });

  std::unique_ptr<AdminServer> server(new AdminServer());
  server->impl_ = std::move(impl);
  return server;
}

AdminServer::~AdminServer() {
  if (!impl_) return;
  uv_async_send(&impl_->stop);
  impl_->thread.join();
  if (int rc = uv_loop_close(&impl_->loop); rc != 0) {
    log::error("admin_shutdown", {{"error", uv_strerror(rc)}});  // a handle left open: a bug
  }
}

int AdminServer::port() const { return impl_ && impl_->listener ? impl_->listener->port() : 0; }

}  // namespace mailgate
