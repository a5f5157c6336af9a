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
export { setCookie, clearCookie, parseCookies, type CookieOptions, type Cookies } from './gateway/cookies.js';
export { fromFetch, toFetch, type FetchHandler, type FetchEnv, type FromFetchOptions, type ToFetchOptions } from './interop/fetch.js';
export { fromNodeHandler, type NodeHandler, type UpgradeHandler, type ServerHook, type FromNodeHandlerOptions } from './interop/node.js';
export { type InterfaceName, type InterfaceSetting, type ServedApp } from './interop/kinds.js';
export { metricsRegistry } from './metrics/registry.js';
export { makeServer, SimpleServer, type MakeServerOptions } from './toolkit/simple-server.js';
export {
  testClient,
  type TestClient,
  type TestClientOptions,
  type TestRequestInit,
  type TestBody,
  type TestResponse,
  type TestResponseHead,
  type StreamingTestResponse,
  type Params,
  type QueryValue,
  type HeaderInit,
} from './toolkit/test-client.js';
export { CookieJar, type Cookie, type CookieJarOptions, type SetCookieOptions } from './toolkit/cookie-jar.js';
export {
  route,
  mount,
  byMethod,
  routeParams,
  notFound,
  ROUTING_ARGS,
  type RoutingArgs,
  type MethodTable,
  type ByMethodOptions,
  type RouteOptions,
} from './toolkit/routing.js';
export {
  forms,
  parseForm,
  formParts,
  isFormType,
  Form,
  FORM_KEY,
  FORM_PARTS_KEY,
  type FormLimits,
  type FormOptions,
  type FormsOptions,
  type FormPart,
  type FieldPart,
  type FilePart,
  type UploadedFile,
} from './middleware/forms.js';
export {
  basicAuth,
  parseBasic,
  safeEqual,
  verifyUsers,
  type BasicAuthOptions,
  type BasicCredentials,
  type BasicVerifier,
} from './middleware/auth.js';
export {
  sessions,
  Session,
  MemoryStore,
  RedisStore,
  SESSION_KEY,
  MAX_COOKIE_BYTES,
  type SessionData,
  type SessionStore,
  type SessionOptions,
  type SessionCookieOptions,
  type RedisClientLike,
  type RedisStoreOptions,
} from './middleware/sessions.js';
export type { HookLog, HookLogMethod } from './logging/hook-log.js';
export { staticFiles, serveStatic, type StaticFilesOptions } from './middleware/static.js';
export { compress, type CompressOptions } from './middleware/compress.js';
export { type Coding } from './middleware/encoding.js';
