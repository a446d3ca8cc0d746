import { describe, expect, it } from "vitest";
import { csvField, toCsv } from "./csv";

describe("csvField (RFC 4180 quoting)", () => {
  it("leaves plain text bare and empties null/undefined", () => {
    expect(csvField("ES")).toBe("ES");
    expect(csvField(12)).toBe("12");
    expect(csvField("-4.50")).toBe("-4.50");
    expect(csvField(null)).toBe("");
    expect(csvField(undefined)).toBe("");
    expect(csvField("")).toBe("");
  });

  it("quotes a field holding a comma, a quote, CR or LF and doubles inner quotes", () => {
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('"')).toBe('""""');
    expect(csvField("line1\nline2")).toBe('"line1\nline2"');
    expect(csvField("cr\rhere")).toBe('"cr\rhere"');
    expect(csvField(" spaced ")).toBe(" spaced ");
  });
});

describe("toCsv", () => {
  it("joins fields with commas and records with CRLF, ending with CRLF", () => {
    expect(toCsv([["a", "b"], ["1", "x,y"]])).toBe('a,b\r\n1,"x,y"\r\n');
  });
  it("gives empty text for no records", () => {
    expect(toCsv([])).toBe("");
  });
});
