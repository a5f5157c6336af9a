/**
 * gwserver's public API: the gateway interface types, the toolkit, and the
 * server pieces an embedder needs.
 *
 * @module
 */
export type {
  Application,
  Body,
  Chunk,
  Environ,
  ErrorStream,
  FileLike,
  FileWrapperFactory,
  HeaderPair,
  InputStream,
  Middleware,
  RequestLogger,
  StartResponse,
  Write,
} from './gateway/types.js';
export { GatewayError, ERROR_CODES, type ErrorCode } from './errors.js';
export { toNodeHandler, createHandler, type HandlerOptions } from './gateway/handler.js';
export { RequestInput, type RequestInputOptions } from './gateway/input.js';
export { FileWrapper, fileWrapper } from './gateway/file-wrapper.js';
export { HOP_BY_HOP, checkHeaders, parseStatus, isToken } from './gateway/start-response.js';
export { WorkerServer, loadInterface, type WorkerServerOptions } from './worker/http-worker.js';
export { loadApp, loadServedApp, type LoadServedAppOptions } from './loader/load-app.js';
export { compose } from './gateway/middleware.js';
export { serve, type ServeOptions, type RunningServer } from './worker/serve.js';
export { validator, LintError, type LintSide } from './gateway/lint.js';
export {
  applicationUri,
  requestUri,
  shiftPathInfo,
  guessScheme,
  isHopByHop,
  setupTestingDefaults,
  ErrorCollector,
} from './gateway/util.js';
export { Headers, type HeaderParam } from './gateway/headers.js';
export { fromFetch, toFetch, type FetchHandler, type FetchEnv, type FromFetchOptions, type ToFetchOptions } from './interop/fetch.js';
export { fromNodeHandler, type NodeHandler, type UpgradeHandler, type ServerHook, type FromNodeHandlerOptions } from './interop/node.js';
export { type InterfaceName, type InterfaceSetting, type ServedApp } from './interop/kinds.js';
export { metricsRegistry } from './metrics/registry.js';
export { staticFiles, serveStatic, type StaticFilesOptions } from './middleware/static.js';
export { compress, type CompressOptions } from './middleware/compress.js';
export { type Coding } from './middleware/encoding.js';
