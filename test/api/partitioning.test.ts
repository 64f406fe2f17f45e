import { describe, expect, it } from 'vitest';
import { loadSpecTexts } from '../../api/load.ts';
import { FLEET, POOL, lines, specTexts } from './helpers.ts';

/** The Fleet's `partitioning` section and the DCM rules `validate` applies with `backend: gpu-operator`. */

const GPU_OPERATOR = `${FLEET}  partitioning:\n    backend: gpu-operator\n`;
const load = (overrides: Parameters<typeof specTexts>[0]) => loadSpecTexts(specTexts(overrides));

describe('Fleet spec.partitioning', () => {
  it('defaults to the builtin backend and the GPU Operator\'s documented namespace, DeviceConfig and systemd units', () => {
    const result = load({});
    expect(result.diagnostics).toEqual([]);
    expect(result.spec?.fleet.spec.partitioning).toEqual({
      backend: 'builtin',
      maxUnavailableNodes: 1,
      gpuOperator: { namespace: 'kube-amd-gpu', deviceConfig: 'gpu-operator', gpuClientSystemdServices: ['amd-metrics-exporter', 'gpuagent'] },
    });
  });

  it('takes an OpenShift namespace, another DeviceConfig and other systemd units', () => {
    const fleet = `${GPU_OPERATOR}    gpuOperator:\n      namespace: openshift-amd-gpu\n      deviceConfig: mi300x-config\n      gpuClientSystemdServices: [gpuagent, rdc]\n`;
    const result = load({ fleet });
    expect(result.diagnostics).toEqual([]);
    expect(result.spec?.fleet.spec.partitioning.gpuOperator).toEqual({ namespace: 'openshift-amd-gpu', deviceConfig: 'mi300x-config', gpuClientSystemdServices: ['gpuagent', 'rdc'] });
  });

  it('refuses an unknown backend and a unit written with the .service suffix DCM appends, at the value', () => {
    const fleet = `${FLEET}  partitioning:\n    backend: dcm\n    gpuOperator:\n      gpuClientSystemdServices: [gpuagent.service]\n`;
    expect(lines(load({ fleet }))).toEqual([
      'specs/fleet.yaml:10:14: error: spec.partitioning.backend: must be one of: builtin, gpu-operator',
      'specs/fleet.yaml:12:34: error: spec.partitioning.gpuOperator.gpuClientSystemdServices.0: must be a systemd unit name without the .service suffix (DCM appends it), e.g. gpuagent',
    ]);
  });
});

describe('DCM rules with backend: gpu-operator', () => {
  it('accepts the catalog\'s default profiles of every pool in the default-like specs', () => {
    expect(load({ fleet: GPU_OPERATOR }).diagnostics).toEqual([]);
  });

  it('refuses a pool profile with NPS4 but not CPX, at the profile, naming the backend field', () => {
    const pools = `${POOL}  profiles: [SPX-NPS1, QPX-NPS4, CPX-NPS4]\n`;
    expect(lines(load({ fleet: GPU_OPERATOR, pools }))).toEqual([
      "specs/pools.yaml:8:24: error: spec.profiles.1: QPX-NPS4 cannot be applied by the GPU Operator's Device Config Manager (partitioning.backend: gpu-operator at specs/fleet.yaml:10:14): DCM applies NPS4 only with CPX, not with QPX",
    ]);
    // The builtin backend sets QPX-NPS4 with amd-smi.
    expect(load({ pools }).diagnostics).toEqual([]);
  });

  it('refuses TPX (MI300A), which DCM does not know, at the profile', () => {
    const pools = POOL.replace('gpu: MI300X', 'gpu: MI300A') + '  profiles: [SPX-NPS1, TPX-NPS1]\n';
    expect(lines(load({ fleet: GPU_OPERATOR, pools }))).toEqual([
      "specs/pools.yaml:8:24: error: spec.profiles.1: TPX-NPS1 cannot be applied by the GPU Operator's Device Config Manager (partitioning.backend: gpu-operator at specs/fleet.yaml:10:14): DCM accepts compute modes SPX, DPX, QPX, CPX, not TPX",
    ]);
  });

  it('warns that a pool with mixed profiles makes heterogeneous DCM profiles, which AMD does not support', () => {
    const fleet = GPU_OPERATOR.replace('spec:\n', 'spec:\n  deviceResourceNaming: mixed\n');
    const pools = `${POOL}  profiles: [SPX-NPS1, CPX-NPS1]\n  allowMixedProfiles: true\n`;
    const found = lines(load({ fleet, pools }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^specs\/pools\.yaml:9:23: warning: spec\.allowMixedProfiles: DCM applies a node with different profiles per GPU as a heterogeneous profile/);
  });
});
