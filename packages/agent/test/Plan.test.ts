import { assert, describe, it } from "@effect/vitest"
import { Plan } from "@hybrid/agent"

describe("Plan", () => {
  it("keeps the LLM's reserve when the budget holds twice of it; the sources end at deadline − reserve", () => {
    const plan = Plan.make({ start: 1_000, deadline: 11_000, llmReserveMs: 3_000 })
    assert.deepStrictEqual(plan, { start: 1_000, deadline: 11_000, contextEnd: 8_000, llmEnd: 10_990, reserved: true })
    assert.isTrue(Plan.askLlm(plan, 10_900, 3_000, { arrived: true })) // reserved: asked whatever is left
  })

  it("a short budget goes to the sources; the LLM only if it still fits, or if nothing arrived", () => {
    const plan = Plan.make({ start: 0, deadline: 3_000, llmReserveMs: 3_000 })
    assert.deepStrictEqual(plan, { start: 0, deadline: 3_000, contextEnd: 2_990, llmEnd: 2_990, reserved: false })
    assert.isFalse(Plan.askLlm(plan, 2_000, 3_000, { arrived: true })) // extractive from what arrived
    assert.isTrue(Plan.askLlm(plan, 2_000, 3_000, { arrived: false })) // nothing else to answer from
    assert.isFalse(Plan.askLlm(plan, 2_990, 3_000, { arrived: false })) // and no time left at all
    const roomy = Plan.make({ start: 0, deadline: 5_000, llmReserveMs: 3_000 })
    assert.isTrue(Plan.askLlm(roomy, 1_000, 3_000, { arrived: true })) // 3.99 s left ≥ the reserve
  })

  it("an inherited deadline already passed, or a zero budget, plans nothing past the start", () => {
    const plan = Plan.make({ start: 500, deadline: 500, llmReserveMs: 100 })
    assert.deepStrictEqual(plan, { start: 500, deadline: 500, contextEnd: 500, llmEnd: 500, reserved: false })
    assert.isFalse(Plan.askLlm(plan, 500, 100, { arrived: false }))
  })
})
