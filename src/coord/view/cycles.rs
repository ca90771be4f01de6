//! Cycles in the dependency graph: a task may not (indirectly) depend on
//! itself.

use std::collections::HashSet;

use super::TaskView;

impl TaskView {
    /// If `task` depended on `deps`, would the dependency graph get a
    /// cycle? Returns the cycle (task … task) if so.
    pub fn cycle_with(&self, task: &str, deps: &[String]) -> Option<Vec<String>> {
        // Depth-first search from each new dependency, following depends_on,
        // looking for a way back to `task`.
        let mut path = vec![task.to_string()];
        let mut seen = HashSet::new();
        for d in deps {
            if self.reaches(d, task, &mut path, &mut seen) {
                path.push(task.to_string());
                return Some(path);
            }
        }
        None
    }

    fn reaches(
        &self,
        from: &str,
        target: &str,
        path: &mut Vec<String>,
        seen: &mut HashSet<String>,
    ) -> bool {
        path.push(from.to_string());
        if from == target {
            path.pop();
            return true;
        }
        if seen.insert(from.to_string()) {
            if let Some(e) = self.get(from) {
                for next in &e.task.depends_on {
                    if self.reaches(next, target, path, seen) {
                        return true;
                    }
                }
            }
        }
        path.pop();
        false
    }
}
