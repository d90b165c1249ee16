import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareDataVersions, GUIDE_DATA_VERSIONS, judgeLdapOutcome, ldapCommandPlan, neverAppliedLdifs } from '../../src/plan/ldap-commands.js';

/** What slapd-dcm4chee 2.6.6-32.0 has in /etc/openldap/data, versions only (unsorted on purpose). */
const IMAGE_VERSIONS = ['5.31.2', '5.26.1', '5.28.0', '5.29.0', '5.29.1', '5.29.2', '5.30.0', '5.31.0', '5.31.1', '5.32.0', '5.26.0', '5.25.0'];
const ENV = ['env', 'ARCHIVE_DEVICE_NAME=KAAPANA'];

const outcome = (argv: string[], exitCode: number, stdout: string, stderr: string) => ({ argv, exitCode, stdout, stderr });
const modifying = (dn: string) => `modifying entry "${dn}"\n\n`;
const AUTH = 'cn=auth,ou=users,dc=dcm4che,dc=org';
const DEVICE = 'dicomDeviceName=KAAPANA,cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org';

describe('compareDataVersions', () => {
  test('orders naturally, not as text', () => {
    assert.ok(compareDataVersions('5.31.1', '5.31.2') < 0);
    assert.ok(compareDataVersions('5.31.2', '5.32.0') < 0);
    assert.ok(compareDataVersions('5.9.0', '5.10.0') < 0);
    assert.equal(compareDataVersions('5.32', '5.32.0'), 0);
    assert.deepEqual(['5.32.0', '5.31.2', '5.4.0', '5.31.10'].sort(compareDataVersions), ['5.4.0', '5.31.2', '5.31.10', '5.32.0']);
  });
});

describe('ldapCommandPlan', () => {
  const plan = ldapCommandPlan({ deviceName: 'KAAPANA', available: IMAGE_VERSIONS });
  const argvs = plan.map((c) => c.argv);

  test('update-schema first, data updates in natural order, then the role commands', () => {
    assert.deepEqual(argvs, [
      ['update-schema'],
      ...['5.26.1', '5.28.0', '5.29.0', '5.29.1', '5.29.2', '5.30.0', '5.31.0', '5.31.1', '5.31.2', '5.32.0'].map((v) => [...ENV, 'update-data', v, '-c']),
      [...ENV, 'init-role', 'auth', 'root'],
      [...ENV, 'assign-role-to-user', 'auth', 'user'],
      [...ENV, 'assign-role-to-user', 'auth', 'admin'],
      [...ENV, 'unassign-role-from-user', 'auth', 'root'],
      [...ENV, 'unassign-role-from-user', 'auth', 'admin'],
    ]);
  });

  test('every command says why; versions beyond the guide are justified as such', () => {
    for (const c of plan) assert.ok(c.why && c.why.length > 10, c.argv.join(' '));
    const why = (v: string) => plan.find((c) => c.argv.includes('update-data') && c.argv.includes(v))!.why!;
    assert.match(why('5.31.2'), /missing from Kaapana's guide/);
    assert.match(why('5.26.1'), /missing from Kaapana's guide/);
    for (const v of GUIDE_DATA_VERSIONS) assert.match(why(v), /listed by Kaapana's migration guide/);
  });

  test('only what the pod ships, inside (from, to]', () => {
    const narrow = ldapCommandPlan({ deviceName: 'KAAPANA', available: ['5.29.0', '5.31.0', '5.31.1', '5.32.0', '5.33.0', 'init-role.ldif'], from: '5.29.0', to: '5.32' });
    const versions = narrow.filter((c) => c.argv.includes('update-data')).map((c) => c.argv[3]);
    assert.deepEqual(versions, ['5.31.0', '5.31.1', '5.32.0']);
  });

  test('refuses a pod that does not ship the target, and device names the image scripts would mangle', () => {
    assert.throws(() => ldapCommandPlan({ deviceName: 'KAAPANA', available: ['5.28.0', '5.31.2'] }), /does not ship data update 5\.32\.0/);
    assert.throws(() => ldapCommandPlan({ deviceName: 'A%B', available: IMAGE_VERSIONS }), /device name/);
    assert.throws(() => ldapCommandPlan({ deviceName: '', available: IMAGE_VERSIONS }), /device name/);
    assert.throws(() => ldapCommandPlan({ deviceName: 'KAAPANA', available: IMAGE_VERSIONS, to: 'latest' }), /not a data version/);
  });
});

describe('judgeLdapOutcome', () => {
  const updateData = [...ENV, 'update-data', '5.28.0', '-c'];

  test('a clean run is ok', () => {
    const j = judgeLdapOutcome(outcome(updateData, 0, `ldapmodify -f 5.28.0/update-dev-5.28.0.ldif -c\n${modifying(DEVICE)}`, ''));
    assert.deepEqual(j, { ok: true, alreadyApplied: false });
  });

  test('update-data exits 0 even when ldapmodify failed: stderr decides', () => {
    const j = judgeLdapOutcome(
      outcome(updateData, 0, `ldapmodify -f 5.28.0/update-dev-5.28.0.ldif\n${modifying(DEVICE)}`, 'ldap_modify: No such object (32)\n\tmatched DN: cn=Devices,cn=DICOM Configuration,dc=dcm4che,dc=org\n'),
    );
    assert.equal(j.ok, false);
    assert.match(j.reason!, /No such object \(32\)/);
  });

  test('update-data: 20, 68 and 16 mean already applied', () => {
    for (const [line, code] of [
      ['ldap_modify: Type or value exists (20)', 20],
      ['ldap_add: Already exists (68)', 68],
      ['ldap_modify: No such attribute (16)', 16],
    ] as const) {
      const j = judgeLdapOutcome(outcome(updateData, 0, `ldapmodify -f x\n${modifying(DEVICE)}`, `${line}\n\tadditional info: whatever\n`));
      assert.equal(j.ok, true, String(code));
      assert.equal(j.alreadyApplied, true);
      assert.match(j.reason!, new RegExp(`\\(${code}\\)`));
    }
  });

  test('one real error among already-present ones fails', () => {
    const j = judgeLdapOutcome(outcome(updateData, 0, 'ldapmodify -f x\n', 'ldap_modify: Type or value exists (20)\nldap_modify: Undefined attribute type (17)\n'));
    assert.equal(j.ok, false);
    assert.match(j.reason!, /\(17\)/);
    assert.doesNotMatch(j.reason!, /\(20\)/);
  });

  test('bind failures and client input errors fail even when the script exits 0', () => {
    const bind = judgeLdapOutcome(outcome(updateData, 0, 'ldapmodify -f x\n', "ldap_sasl_bind(SIMPLE): Can't contact LDAP server (-1)\n"));
    assert.equal(bind.ok, false);
    assert.match(bind.reason!, /Can't contact LDAP server/);
    const format = judgeLdapOutcome(outcome(updateData, 0, 'ldapmodify -f x\n', 'ldapmodify: invalid format (line 5) entry: "x"\n'));
    assert.equal(format.ok, false);
  });

  test('update-data of a version the image lacks applies nothing and fails', () => {
    const j = judgeLdapOutcome(outcome([...ENV, 'update-data', '5.27.0'], 0, '', ''));
    assert.equal(j.ok, false);
    assert.match(j.reason!, /applied no LDIF file/);
  });

  test('role commands: each has its own "already there" code, and exits with it', () => {
    const cases: [string, number, string][] = [
      ['init-role', 68, 'ldap_add: Already exists (68)'],
      ['assign-role-to-user', 20, 'ldap_modify: Type or value exists (20)'],
      ['unassign-role-from-user', 16, 'ldap_modify: No such attribute (16)'],
    ];
    for (const [cmd, code, line] of cases) {
      const j = judgeLdapOutcome(outcome([...ENV, cmd, 'auth', 'user'], code, modifying(AUTH), `${line}\n`));
      assert.deepEqual({ ok: j.ok, alreadyApplied: j.alreadyApplied }, { ok: true, alreadyApplied: true }, cmd);
    }
    // …but not another command's code.
    const wrong = judgeLdapOutcome(outcome([...ENV, 'assign-role-to-user', 'auth', 'user'], 16, modifying(AUTH), 'ldap_modify: No such attribute (16)\n'));
    assert.equal(wrong.ok, false);
    const initExists = judgeLdapOutcome(outcome([...ENV, 'init-role', 'auth', 'root'], 20, modifying(AUTH), 'ldap_modify: Type or value exists (20)\n'));
    assert.equal(initExists.ok, false);
  });

  test('update-schema is re-runnable: any LDAP error is a failure', () => {
    assert.equal(judgeLdapOutcome(outcome(['update-schema'], 0, modifying('cn={5}dcm4che,cn=schema,cn=config'), '')).ok, true);
    const j = judgeLdapOutcome(outcome(['update-schema'], 20, '', 'ldap_modify: Type or value exists (20)\n'));
    assert.equal(j.ok, false);
    // An earlier file failed, the last succeeded: exit 0 but still a failure.
    assert.equal(judgeLdapOutcome(outcome(['update-schema'], 0, '', 'ldap_modify: Other (e.g., implementation specific) error (80)\n')).ok, false);
  });

  test('init-role with one argument prints usage, exits 0, and is a failure', () => {
    const j = judgeLdapOutcome(outcome([...ENV, 'init-role', 'auth'], 0, 'Usage: init-role <role> <user> [options]\n', ''));
    assert.equal(j.ok, false);
    assert.match(j.reason!, /usage/);
  });

  test('a non-zero exit without an already-present code fails, with the stderr tail', () => {
    const j = judgeLdapOutcome(outcome([...ENV, 'assign-role-to-user', 'auth', 'user'], 255, '', "ldap_sasl_bind(SIMPLE): Can't contact LDAP server (-1)\n"));
    assert.equal(j.ok, false);
    const k = judgeLdapOutcome(outcome(['/usr/bin/env', 'update-data', '5.28.0'], 127, '', 'env: ‘update-data’: No such file or directory\n'));
    assert.equal(k.ok, false);
    assert.match(k.reason!, /exit code 127.*No such file/);
  });
});

describe('the 5.29.0 delete and add, and the files update-data never applies', () => {
  const argv = [...ENV, 'update-data', '5.29.0', '-c'];
  const EXPORTER = `dcmExporterID=RetrieveAsReceived,${DEVICE}`;

  test('a delete that finds nothing (32) inside update-data counts as already applied', () => {
    const judged = judgeLdapOutcome(outcome(argv, 0, `ldapmodify -f 5.29.0/update-dev-5.29.0.ldif -c\ndeleting entry "${EXPORTER}"\n\nadding new entry "${EXPORTER}"\n\n`, 'ldap_delete: No such object (32)\n\tmatched DN: dicomDeviceName=KAAPANA\n'));
    assert.deepEqual({ ok: judged.ok, alreadyApplied: judged.alreadyApplied }, { ok: true, alreadyApplied: true });
  });

  test('32 on a modify is a wrong DN, never "already applied"; nor is 32 outside update-data', () => {
    assert.equal(judgeLdapOutcome(outcome(argv, 0, `ldapmodify -f 5.29.0/update-dev-5.29.0.ldif -c\nmodifying entry "${EXPORTER}"\n\n`, 'ldap_modify: No such object (32)\n')).ok, false);
    assert.equal(judgeLdapOutcome(outcome([...ENV, 'assign-role-to-user', 'auth', 'user'], 32, '', 'ldap_delete: No such object (32)\n')).ok, false);
  });

  test('the ui-config LDIFs of 5.30.0 and 5.32.0 are named; others and versions out of range are not', () => {
    const files = ['5.30.0/update-ui-config.ldif', '5.30.0/update-dev-5.30.0.ldif', '5.32.0/update-ui-config-5.32.0.ldif', '5.26.0/update-ui-config.ldif', '5.33.0/update-ui-config.ldif', 'init-role.ldif'];
    assert.deepEqual(neverAppliedLdifs(files), ['5.30.0/update-ui-config.ldif', '5.32.0/update-ui-config-5.32.0.ldif']);
  });
});
