# The two commands: `make run` and `make test` (see README.md).
.PHONY: run test build docs bench lint web api-types

WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/package-lock.json web/vite.config.ts

run: web/dist/index.html
	@scripts/ensure-postgres.sh
	cargo build --release --bin tradeplane
	./target/release/tradeplane serve

# The Observatory, built to web/dist (served by `tradeplane serve` at /).
web: web/dist/index.html
web/dist/index.html: $(WEB_SOURCES)
	@scripts/web-setup.sh
	cd web && npx vite build

# Regenerates the web app's API types from the server's OpenAPI document.
api-types:
	cargo build --quiet --bin tradeplane
	@scripts/web-setup.sh
	scripts/web-api-types.sh

test:
	@scripts/test.sh

build:
	cargo build --workspace --all-targets

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Regenerates the files derived from code (a test fails when they are stale).
docs: api-types
	cargo run --quiet --bin tradeplane -- error-codes --markdown > docs/error-codes.md

bench:
	cargo bench -p tradeplane-actors --bench supervision
	cargo run --release -p tradeplane-actors --example supervision_load
	scripts/bench-supervision-vs-otp.sh
