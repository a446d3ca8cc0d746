# The two commands: `make run` and `make test` (see README.md).
.PHONY: run test build docs bench lint

run:
	@scripts/ensure-postgres.sh
	cargo build --release --bin tradeplane
	./target/release/tradeplane serve

test:
	@scripts/test.sh

build:
	cargo build --workspace --all-targets

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Regenerates the files derived from code (a test fails when they are stale).
docs:
	cargo run --quiet --bin tradeplane -- error-codes --markdown > docs/error-codes.md

bench:
	cargo bench -p tradeplane-actors --bench supervision
	cargo run --release -p tradeplane-actors --example supervision_load
