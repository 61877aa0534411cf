/**
 * @hybrid/agent — the capstone multi-source AI agent, its fixture services and the
 * `hybrid` CLI.
 *
 * @since 0.1.0
 */
export * as Admission from "./serve/Admission.ts"
export * as Agent from "./Agent.ts"
export * as Faults from "./fixtures/Faults.ts"
export * as FixtureData from "./fixtures/data.ts"
export * as FixtureLlm from "./fixtures/llm.ts"
export * as FixtureRoutes from "./fixtures/routes.ts"
export * as Fixtures from "./fixtures/Fixtures.ts"
export * as Fleet from "./Fleet.ts"
export * as Middleware from "./serve/Middleware.ts"
export * as KnowledgeBase from "./sources/KnowledgeBase.ts"
export * as News from "./sources/News.ts"
export * as Observability from "./observability/Observability.ts"
export * as OpenAi from "./llm/OpenAi.ts"
export * as Plan from "./Plan.ts"
export * as Processing from "./processing/Processing.ts"
export * as Query from "./sources/Query.ts"
export * as Scrub from "./Scrub.ts"
export * as ScrubbedTracer from "./observability/ScrubbedTracer.ts"
export * as Server from "./serve/Server.ts"
export * as ServeApi from "./serve/Api.ts"
export * as ServeMetrics from "./serve/Metrics.ts"
export * as Shed from "./serve/Shed.ts"
export * as Shutdown from "./serve/Shutdown.ts"
export * as Streaming from "./serve/Streaming.ts"
export * as Source from "./sources/Source.ts"
export * as Upstream from "./Upstream.ts"
export * as Weather from "./sources/Weather.ts"
