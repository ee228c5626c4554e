#include "proxy/admin/admin_connection.h"

namespace mailgate {

void AdminConnection::accept(uv_loop_t* loop, uv_stream_t* listener, Context& context) {
  auto* c = new AdminConnection(context);
  uv_tcp_init(loop, &c->tcp_);
  uv_timer_init(loop, &c->timer_);
  c->tcp_.data = c;
  c->timer_.data = c;
  c->openHandles_ = 2;
  c->position_ = context.open.insert(context.open.end(), c);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp_)) != 0) {
    c->close();
    return;
  }
  uv_timer_start(&c->timer_, &AdminConnection::onTimer, c->context_.limits.requestDeadlineMs, 0);
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp_), &AdminConnection::onAlloc,
                    &AdminConnection::onRead) != 0) {
    c->close();
  }
}

void AdminConnection::onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* c = static_cast<AdminConnection*>(handle->data);
  *buf = uv_buf_init(c->context_.readBuffer, sizeof c->context_.readBuffer);
}

void AdminConnection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<AdminConnection*>(stream->data);
  if (nread > 0) {
    c->onBytes(buf->base, static_cast<size_t>(nread));
  } else if (nread == UV_EOF) {
    c->onEnd();
  } else if (nread < 0) {
    c->close();  // reset or read error: nobody left to answer
  }
}

void AdminConnection::onBytes(const char* data, size_t length) {
  if (stage_ != Stage::Reading) return;  // after the head: dropped unread
  if (parser_.feed(std::string_view(data, length)) == HttpRequestParser::Outcome::NeedMore) return;
  respond(routeAdminRequest(parser_, context_.ready, context_.metricsText, &context_.kick));
}

void AdminConnection::onEnd() {
  peerDone_ = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  switch (stage_) {
    case Stage::Reading:
      // Half-closed mid-head: say why (400). Nothing sent at all is a port
      // probe, which gets no answer.
      if (parser_.finish() == HttpRequestParser::Outcome::NeedMore) {
        close();
      } else {
        respond(routeAdminRequest(parser_, context_.ready, context_.metricsText, &context_.kick));
      }
      return;
    case Stage::Writing: return;  // the answer can still go out; afterWrite closes
    case Stage::Lingering: close(); return;
    case Stage::Closing: return;
  }
}

void AdminConnection::respond(const AdminResponse& response) {
  stage_ = Stage::Writing;
  out_ = serializeAdminResponse(response);
  uv_timer_start(&timer_, &AdminConnection::onTimer, context_.limits.writeDeadlineMs, 0);
  write_.data = this;
  uv_buf_t buf = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
  if (uv_write(&write_, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, &AdminConnection::onWritten) != 0) {
    close();
  }
}

void AdminConnection::onWritten(uv_write_t* req, int status) {
  auto* c = static_cast<AdminConnection*>(req->data);
  if (c->stage_ == Stage::Closing) return;  // cancelled by close()
  if (status != 0) {
    c->close();
    return;
  }
  c->afterWrite();
}

void AdminConnection::afterWrite() {
  out_.clear();
  out_.shrink_to_fit();
  if (peerDone_) {
    close();  // everything the client sent was read: a clean FIN
    return;
  }
  stage_ = Stage::Lingering;
  uv_timer_start(&timer_, &AdminConnection::onTimer, context_.limits.lingerMs, 0);
  shutdown_.data = this;
  if (uv_shutdown(&shutdown_, reinterpret_cast<uv_stream_t*>(&tcp_), &AdminConnection::onShutdown) != 0) {
    close();
  }
}

void AdminConnection::onShutdown(uv_shutdown_t* req, int status) {
  auto* c = static_cast<AdminConnection*>(req->data);
  if (c->stage_ == Stage::Closing) return;
  if (status != 0) c->close();
  // Otherwise keep reading (and dropping) until the client closes or lingerMs pass.
}

void AdminConnection::onTimer(uv_timer_t* timer) {
  auto* c = static_cast<AdminConnection*>(timer->data);
  if (c->stage_ == Stage::Reading) {
    c->respond(requestTimeoutResponse());
  } else {
    c->close();  // the client does not read its answer, or never closes
  }
}

void AdminConnection::refuse(const AdminResponse& response) {
  if (stage_ == Stage::Closing) return;
  const std::string text = serializeAdminResponse(response);
  uv_buf_t buf = uv_buf_init(const_cast<char*>(text.data()), static_cast<unsigned>(text.size()));
  uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1);
  close();
}

void AdminConnection::close() {
  if (stage_ == Stage::Closing) return;
  stage_ = Stage::Closing;
  context_.open.erase(position_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &AdminConnection::onClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &AdminConnection::onClosed);
}

void AdminConnection::onClosed(uv_handle_t* handle) {
  auto* c = static_cast<AdminConnection*>(handle->data);
  if (--c->openHandles_ == 0) delete c;
}

}  // namespace mailgate
