import { describe, expect, it } from "vitest";
import { formatDecimal } from "./number";

describe("formatDecimal", () => {
  it("keeps whole numbers and rounds long fractions", () => {
    expect(formatDecimal(42)).toBe("42");
    expect(formatDecimal(-3)).toBe("-3");
    expect(formatDecimal(0.6379310344827587)).toBe("0.6379");
    expect(formatDecimal(6012.25)).toBe("6012.25");
    expect(formatDecimal(-0.1)).toBe("-0.1");
  });
  it("never shows a small non-zero value as 0", () => {
    expect(formatDecimal(0.0000123456)).toBe("0.0000123");
    expect(formatDecimal(0.00049)).toBe("0.00049");
  });
});
