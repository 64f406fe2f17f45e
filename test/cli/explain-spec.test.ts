import { describe, expect, it } from 'vitest';
import { explainOptionsOf } from '../../cli/explain-spec.ts';
import { explainModel, renderExplainText } from '../../sizing/explain.ts';
import { loadModelCatalog } from '../../sizing/model-catalog.ts';

describe('explain --specs DIR NAME', () => {
  it("explains a Model of the spec as configured: its precision, context, pools and the Fleet's headroom", () => {
    const configured = explainOptionsOf('specs', 'qwen3-8b');
    if ('diagnostics' in configured) throw new Error('the default specs load');
    expect(configured.id).toBe('Qwen/Qwen3-8B');
    expect(configured.options).toMatchObject({ precision: 'fp8', maxModelLen: 16384, concurrency: 2, headroomPercent: 5 });
    const report = explainModel(loadModelCatalog().models, configured.id, configured.options);
    expect(report.fits.map((f) => `${f.pool} ${f.gpu} ${f.profile}`)).toEqual(['mi300x MI300X SPX-NPS1', 'mi300x MI300X CPX-NPS4']);
    // Text and JSON agree: every figure of the fit table is in the text.
    const text = renderExplainText(report);
    for (const f of report.fits) expect(text).toMatch(new RegExp(`${f.pool}\\s+${f.gpu}\\s+${f.profile}\\s+${f.partitionGiB.toFixed(2)}\\s+${f.usableGiB.toFixed(2)}.*${f.reservedGiB!.toFixed(2)}\\s+${f.gpusPerReplica}`));
  });

  it('names the Models there are when NAME is none of them', () => {
    const configured = explainOptionsOf('specs', 'qwen3-8');
    expect('diagnostics' in configured && configured.diagnostics[0]!.message).toMatch(/no Model named "qwen3-8" in specs \(Models: gemma-27b, .*qwen3-8b/);
  });
});
