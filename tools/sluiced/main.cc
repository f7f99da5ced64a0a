// sluiced: the Sluice broker. Parses flags and an optional server.properties-style file, then
// hands over to the broker runtime. Exit code 0 on an orderly stop (SIGINT/SIGTERM).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "engine/amqp/server.h"
#include "engine/kafka/server/broker.h"
#include "io/logging.h"

int main(int argc, char** argv) {
  using sluice::broker::BrokerConfig;
  BrokerConfig cfg;
  CLI::App app{"sluiced - Sluice streaming broker (Kafka protocol)"};
  app.set_version_flag("--version", "sluiced " SLUICE_VERSION " (commit " SLUICE_GIT_COMMIT ", " SLUICE_BUILD_TYPE
                                    " build, compiler " __VERSION__ ")");
  cfg.metrics_enabled = true;  // the daemon serves /metrics on 127.0.0.1:9644 unless told otherwise
  cfg.amqp_enabled = true;     // and AMQP 0-9-1 on 127.0.0.1:5672
  std::string config_file, listen, advertised, data_dir, metrics_listen, amqp_listen, log_level = "info",
                                                                                      log_format = "text";
  std::vector<std::string> overrides;
  unsigned smp = 0;
  uint32_t poll_us = 0;
  app.add_option("--config", config_file, "server.properties-style file (key=value)")->check(CLI::ExistingFile);
  app.add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:9092; port 0 = ephemeral)");
  app.add_option("--advertised-address", advertised, "HOST[:PORT] clients are told to connect to");
  app.add_option("--metrics-listen", metrics_listen,
                 "HOST:PORT of the Prometheus /metrics endpoint (default 127.0.0.1:9644; port 0 = ephemeral), or off");
  app.add_option("--amqp-listen", amqp_listen,
                 "HOST:PORT of the AMQP 0-9-1 listener (default 127.0.0.1:5672; port 0 = ephemeral), or off");
  app.add_option("--data-dir", data_dir, "data directory (default ./data)");
  app.add_option("--smp", smp, "shards (one pinned thread each); default: every usable core");
  app.add_option("--poll-us", poll_us, "busy-poll for up to N microseconds before sleeping (default 0: off)");
  app.add_option("--ready-file", cfg.ready_file, "write the bound port here once listening");
  app.add_option("--log-level", log_level, "debug, info (default), warn, error or off");
  app.add_option("--log-format", log_format, "text (default) or json (one JSON object a line)");
  app.add_option("--set", overrides, "KEY=VALUE broker or topic-default setting (repeatable), e.g. num.partitions=3");
  CLI11_PARSE(app, argc, argv);

  sluice::logging::Level level{};
  sluice::logging::Format format{};
  if (!sluice::logging::parse_level(log_level, &level)) {
    std::fprintf(stderr, "sluiced: --log-level: expected debug, info, warn, error or off, got %s\n", log_level.c_str());
    return 2;
  }
  if (!sluice::logging::parse_format(log_format, &format)) {
    std::fprintf(stderr, "sluiced: --log-format: expected text or json, got %s\n", log_format.c_str());
    return 2;
  }
  sluice::logging::configure(level, format);
  std::string err;
  auto fail = [&](const std::string& what) {
    sluice::logging::error("{}", what);
    return 2;
  };
  if (!config_file.empty() && !sluice::broker::load_properties_file(cfg, config_file, &err)) return fail(err);
  for (const auto& kv : overrides) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) return fail("--set expects KEY=VALUE, got " + kv);
    if (!sluice::broker::apply_broker_property(cfg, kv.substr(0, eq), kv.substr(eq + 1), &err)) return fail(err);
  }
  if (!listen.empty() && !sluice::broker::apply_broker_property(cfg, "listen", listen, &err)) return fail(err);
  if (!advertised.empty() && !sluice::broker::apply_broker_property(cfg, "advertised.address", advertised, &err))
    return fail(err);
  if (!metrics_listen.empty() &&
      !sluice::broker::apply_broker_property(cfg, "sluice.metrics.listen", metrics_listen, &err))
    return fail(err);
  if (!amqp_listen.empty() && !sluice::broker::apply_broker_property(cfg, "sluice.amqp.listen", amqp_listen, &err))
    return fail(err);
  // The default AMQP address is a convenience: when it is taken (a RabbitMQ on the box, another
  // sluiced) the broker says so and serves Kafka only. An address the operator asked for must bind.
  const bool amqp_explicit = !amqp_listen.empty() || cfg.amqp_host != "127.0.0.1" || cfg.amqp_port != 5672;
  if (!data_dir.empty()) cfg.data_dir = data_dir;
  if (app.count("--smp")) cfg.smp = smp;
  if (app.count("--poll-us")) cfg.poll_us = poll_us;
  sluice::kafka::BrokerHooks hooks;
  std::shared_ptr<sluice::amqp::Server> amqp;
  if (cfg.amqp_enabled) {
    hooks.start_extra = [&cfg, &amqp, amqp_explicit]() {
      sluice::amqp::ServerConfig sc;
      sc.host = cfg.amqp_host;
      sc.port = cfg.amqp_port;
      auto r = sluice::amqp::start_server(sc);
      if (!r.ok()) {
        sluice::logging::error("cannot listen for AMQP on {}:{}: {}{}", sc.host, sc.port, r.error().describe(),
                               amqp_explicit ? " (set --amqp-listen HOST:PORT or off)" : "; AMQP is off");
        return !amqp_explicit;
      }
      amqp = std::move(r.value());
      return true;
    };
    hooks.stop_extra = [&amqp]() {
      sluice::amqp::stop_server(amqp);
      amqp.reset();
    };
  }
  return sluice::kafka::run_broker(cfg, hooks);
}
