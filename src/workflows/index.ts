export { migrateDcm4che } from './migrate-dcm4che.js';
export { rehearseDcm4che } from './rehearse-dcm4che.js';
export { migrateFleet } from './migrate-fleet.js';
export { planNode } from './plan-node.js';
