//! Golden files: a rendered request (or frame sequence) compared with `tests/it/golden/<name>.txt`.

/// Compares `actual` with `tests/it/golden/<name>.txt` (or writes it with `UPDATE_GOLDEN=1`).
pub fn golden(name: &str, actual: &str) {
    let path = format!("{}/tests/it/golden/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(format!("{}/tests/it/golden", env!("CARGO_MANIFEST_DIR"))).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (UPDATE_GOLDEN=1 writes it)"));
    assert_eq!(
        actual, expected,
        "{name}: the request changed; if intended, regenerate with UPDATE_GOLDEN=1"
    );
}
