package guestinit

import (
	"bufio"
	"fmt"
	"path"
	"strings"
)

// LoadOrder returns the module files (paths relative to the modules
// directory, as modules.dep names them) to load for the named modules, each
// after the modules it depends on and each once. modulesDep is the text of
// modules.dep. A name may use '-' or '_' (the kernel treats them alike).
func LoadOrder(modulesDep string, names []string) ([]string, error) {
	deps := map[string][]string{} // file -> the files it needs
	byName := map[string]string{} // module name -> file
	sc := bufio.NewScanner(strings.NewReader(modulesDep))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		file, needs, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[file] = strings.Fields(needs)
		byName[moduleName(file)] = file
	}
	var order []string
	state := map[string]int{} // 1: being visited, 2: done
	var visit func(file string) error
	visit = func(file string) error {
		switch state[file] {
		case 1:
			return fmt.Errorf("modules.dep: %s depends on itself", file)
		case 2:
			return nil
		}
		state[file] = 1
		for _, d := range deps[file] {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[file] = 2
		order = append(order, file)
		return nil
	}
	for _, n := range names {
		file, ok := byName[strings.ReplaceAll(n, "-", "_")]
		if !ok {
			return nil, fmt.Errorf("module %s is not in modules.dep", n)
		}
		if err := visit(file); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// moduleName is the name of a module file: its base name without .ko (and
// without a compression suffix), with '-' as '_'.
func moduleName(file string) string {
	base := path.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}
