// Chooses the run id the workers record their processes and databases under.
import { runDir } from "./registry";

export default function globalSetup(): void {
  process.env.TP_E2E_RUN = `${Date.now().toString(36)}-${process.pid}`;
  runDir();
}
