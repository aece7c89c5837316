/** A listening HTTP server started by `serve()` on Node or Bun. */
export interface RunningServer {
  port: number;
  /** Stops listening and lets open streams finish (briefly) before their connections are cut. */
  close(): Promise<void>;
}
